"""Problems with exactly known objectives J(params), so that grad J = jax.grad(J) is the truth."""

from pgjax.problems.antithetic import Antithetic
from pgjax.problems.bandit import BanditOutcome, BanditParams, LinearGaussianBandit
from pgjax.problems.base import Problem, exact_gradient
from pgjax.problems.bernoulli import BernoulliOutcome, BernoulliParams, BernoulliVector, SquaredDistance
from pgjax.problems.contextual import ContextualBandit, StateActionQuadratic
from pgjax.problems.gaussian_test_functions import (
    FUNCTIONS,
    GaussianLogParams,
    GaussianParams,
    GaussianTestFunction,
)
from pgjax.problems.lqr import SYSTEMS, LinearQuadraticRegulator, LQRParams, ParameterExploringLQR, make_system
from pgjax.problems.rewards import REWARDS, GaussianBump, Linear, Quadratic, Reward, make_reward
from pgjax.problems.softmax_bandit import SoftmaxBandit
from pgjax.problems.success_bandit import SuccessBandit
from pgjax.problems.target_matching import TargetMatching, TargetMatchingParams

__all__ = [
    "ContextualBandit",
    "StateActionQuadratic",
    "TargetMatching",
    "TargetMatchingParams",
    "LQRParams",
    "LinearQuadraticRegulator",
    "ParameterExploringLQR",
    "SYSTEMS",
    "SoftmaxBandit",
    "SuccessBandit",
    "make_system",
    "Antithetic",
    "BanditOutcome",
    "BernoulliOutcome",
    "BernoulliParams",
    "BernoulliVector",
    "SquaredDistance",
    "BanditParams",
    "FUNCTIONS",
    "GaussianBump",
    "GaussianLogParams",
    "GaussianParams",
    "GaussianTestFunction",
    "Linear",
    "LinearGaussianBandit",
    "Problem",
    "Quadratic",
    "REWARDS",
    "Reward",
    "exact_gradient",
    "make_reward",
]
