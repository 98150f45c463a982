"""The interface every pgjax problem implements.

A problem is a frozen, hashable dataclass (so it can be a static argument of ``jax.jit``) that knows

- how to draw its parameter-free randomness ``noise = problem.sample_noise(key, n)`` (leading axis n);
- how to turn that noise into outcomes, differentiably in the parameters (the reparameterisation used by
  the pathwise estimator): ``outcome = problem.sample(params, noise)``;
- the log-density of an outcome under the policy, ``problem.log_prob(params, outcome) -> (n,)``, whose
  gradient is the score psi = grad log pi;
- the reward of an outcome, ``problem.reward(outcome) -> (n,)``;
- its EXACT objective ``problem.objective(params) = J(params) = E[r]``, computed without sampling, so that
  the true gradient is ``jax.grad(problem.objective)``.

Because all estimators draw their randomness through ``sample_noise`` from the same key, estimators called
with the same key see the same samples (common random numbers), which makes paired comparisons sharp.

Optional capabilities are typed protocols too (``runtime_checkable``), so code asks
``isinstance(problem, GaussianStructure)`` instead of probing for attributes, and an estimator declares the
capabilities it needs (``requires``, see :mod:`pgjax.estimators.base`):

- :class:`ExactScoreMoments`: ``score_moments(params) -> ScoreMoments``, exact moments of the score, which give
  exact single-sample variances (the bandits, the Gaussian test functions, LQR);
- :class:`OnePassScores`: ``score_mean_one_pass(params, outcome, w)``, the weighted score mean
  (1/n) sum_i w_i psi_i in closed form as one reduction over the samples, which the fast path's score-function
  estimators use (the fixed-state bandit);
- :class:`GaussianStructure`: ``gaussian(params) -> (mu, sigma)``, ``f(x)``, ``gaussian_variable(outcome)``
  (the measure-valued and control-variate estimators);
- :class:`SeparableGaussian`: f is a sum of ``coordinate_function`` over coordinates, with ``to_params`` and
  ``quadrature_panels`` (exact variances of those estimators by quadrature);
- :class:`GroupedSamples`: ``sample_groups(n)``, samples that are NOT independent (antithetic pairs);
- :class:`Trajectories`: per-step log-probabilities and rewards of a finite-horizon problem;
  :class:`FoldedRollout` (``fold``: a one-pass rollout) and :class:`GaussianTrajectories` (exact Gaussian
  representation and value functions: LQR) refine it;
- :class:`EpisodeBatches`: episodes of a simulated environment with a policy and a critic (no exact
  objective; samples are not differentiable in the parameters);
- :class:`ParameterExploring`: a parameter-exploring problem (PGPE: gains drawn around a mean);
- :class:`SampleCost`: ``sample_cost``, the elementary steps one sample costs (an episode's horizon), which
  sizes the engine's micro-batch (:func:`sample_cost`; 1 for a problem that does not declare it);
- :class:`FiniteOutcomes`: finitely many outcomes, ``num_outcomes`` and ``outcomes()`` (all of them as one
  batch), so that every expectation is an exact finite sum and samples can be drawn without replacement (the
  softmax bandit's K arms, the 2^d Bernoulli vectors);
- :class:`StateBaselines`: the exact state-dependent baselines of a one-step problem with a random state (the
  value V(s) = E[r | s] and the per-coordinate variance-minimising b*_c(s)) and the exact second moments of
  their estimators (the contextual bandit, the target-matching task);
- :class:`FactorisedActions`: a policy that factorises over action coordinates, with the exact
  action-dependent baselines E[r | s, a_{-i}] of Wu et al. (2018) (the target-matching task);
- :class:`PromptGroups`: one sample answers each of P prompts, with per-prompt rewards and log-probabilities,
  so that an estimator can form a group of G answers per prompt (the group baselines of RL from verifiable
  rewards, :mod:`pgjax.estimators.group`); :class:`ExactSuccessMoments` adds the exact success/failure
  reduction of a 0/1 reward (:class:`SuccessMoments`), which gives those estimators' exact moments;
- :class:`ReferencePolicy`: a fixed reference policy q beside the sampling policy p = pi_params, with log q(x)
  of each outcome and the exact KL(p || q), what the sample KL estimators k1, k2, k3 need
  (:mod:`pgjax.estimators.kl`, the categorical pair :mod:`pgjax.problems.kl_pair`).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax
import jax.numpy as jnp

Params = Any
Noise = Any
Outcome = Any


@runtime_checkable
class Problem(Protocol):
    name: str

    def init_params(self) -> Params: ...

    def sample_noise(self, key: jax.Array, n: int) -> Noise: ...

    def sample(self, params: Params, noise: Noise) -> Outcome: ...

    def log_prob(self, params: Params, outcome: Outcome) -> jax.Array: ...

    def reward(self, outcome: Outcome) -> jax.Array: ...

    def objective(self, params: Params) -> jax.Array: ...


class ScoreMoments(NamedTuple):
    """Exact moments of the score psi = grad log pi and the reward r, each a pytree shaped like params (float64
    when computed from float64 params): per coordinate c,

    - ``psi2`` E[psi_c^2], ``r_psi2`` E[r psi_c^2], ``r2_psi2`` E[r^2 psi_c^2];
    - ``dr2`` E[(dr/dparam_c)^2], the pathwise second moment (NaN where r is not differentiable in params);
    - ``r_psi`` E[r psi_c] and ``dr`` E[dr/dparam_c] (first moments; None where the problem does not give them).

    A NamedTuple, so it is a pytree (returned from jitted and vmapped code as is).
    """

    psi2: Any
    r_psi2: Any
    r2_psi2: Any
    dr2: Any
    r_psi: Any = None
    dr: Any = None


@runtime_checkable
class ExactScoreMoments(Protocol):
    """A problem with exact score moments, which give exact single-sample variances."""

    def score_moments(self, params: Params) -> ScoreMoments: ...


@runtime_checkable
class OnePassScores(Protocol):
    """A problem that gives the weighted score mean (1/n) sum_i w_i grad log pi(x_i) in closed form, computed
    as ONE reduction over the n samples (``score_mean_one_pass(params, outcome, weights) -> Params``, or None
    where its closed form does not apply to this problem's configuration).

    It equals the gradient of the surrogate mean(w log pi) up to float rounding (another summation order).
    The point is speed on a CPU: XLA's CPU fusion evaluates an elementwise producer (the inverse error function
    of the normals) once per fusion that reads it, and autodiff's score sums are separate reductions, one
    fusion each, while a single reduction reads each sample once. The engine's fast path uses it
    (:func:`pgjax.estimators.score_function.weighted_score_mean`); the default path keeps autodiff, so
    committed results keep their bits.
    """

    def score_mean_one_pass(self, params: Params, outcome: Outcome, weights: jax.Array) -> Params | None: ...


#: Contiguous blocks that :func:`one_pass_mean` adds elementwise before its final sum.
ONE_PASS_BLOCKS = 8


def one_pass_mean(x: jax.Array) -> jax.Array:
    """The mean of ``x`` over its leading axis, for :class:`OnePassScores`: the n values are cut into
    :data:`ONE_PASS_BLOCKS` contiguous blocks of n // 8, the blocks added elementwise, then summed (with the
    fewer than 8 values left over when 8 does not divide n).

    The same mean up to float rounding (a blocked summation order). The point is XLA:CPU: it rewrites one long
    reduction into a tree of reductions that reads a materialised copy of its operand (for the bandit's complex
    pair, 2 MiB per 64 x 4096 micro-batch), whereas the blockwise additions stay in the elementwise loop that
    computes the values, so only an eighth is written. On the bandit benchmark's 64 x 4096 micro-batch, timed
    alone in interleaved rounds, this took the estimate from 0.85 to 0.89 of the speed of drawing its normals
    to 0.96 to 0.99 (``pgjax bench`` times the whole engine path).
    """
    n = x.shape[0]
    m = n // ONE_PASS_BLOCKS
    if m == 0:
        return jnp.mean(x, axis=0)
    folded = x[:m]
    for j in range(1, ONE_PASS_BLOCKS):
        folded = folded + x[j * m : (j + 1) * m]
    total = jnp.sum(folded, axis=0)
    if n > ONE_PASS_BLOCKS * m:
        total = total + jnp.sum(x[ONE_PASS_BLOCKS * m :], axis=0)
    return total / n


@runtime_checkable
class GaussianStructure(Protocol):
    """A problem whose reward is f(x) of a Gaussian variable x ~ N(mu, diag(sigma^2)) (the Gaussian test
    functions; the linear-Gaussian bandit's action): ``gaussian(params) -> (mu, sigma)``, ``f(x)`` for x of
    shape (..., D), and ``gaussian_variable(outcome) -> x`` (n, D) of a batch of outcomes."""

    def gaussian(self, params: Params) -> tuple[jax.Array, jax.Array]: ...

    def f(self, x: jax.Array) -> jax.Array: ...

    def gaussian_variable(self, outcome: Outcome) -> jax.Array: ...


@runtime_checkable
class SeparableGaussian(Protocol):
    """Gaussian structure with f(x) = sum_d g(x_d): ``coordinate_function`` g (elementwise), ``to_params``
    (per-coordinate (mu, sigma) quantities as params) and ``quadrature_panels`` (of the exact moments)."""

    quadrature_panels: int

    def coordinate_function(self, x: jax.Array) -> jax.Array: ...

    def to_params(self, params: Params, mu_part: jax.Array, sigma_part: jax.Array, order: int = 1) -> Params: ...


@runtime_checkable
class GroupedSamples(Protocol):
    """A sampler whose n samples are NOT independent: ``sample_groups(n)`` gives each sample's group id (e.g.
    antithetic pairs). Exact i.i.d. variances (single-sample variance / n) do not apply to it."""

    def sample_groups(self, n: int) -> Any: ...


@runtime_checkable
class Trajectories(Protocol):
    """A finite-horizon problem whose outcomes are trajectories: per-step log-probabilities and rewards,
    time-major (H, n), discounts and rewards-to-go."""

    def step_log_probs(self, params: Params, traj: Outcome) -> jax.Array: ...

    def step_rewards(self, traj: Outcome) -> jax.Array: ...

    def discounts(self, dtype: Any = None) -> jax.Array: ...

    def rewards_to_go(self, traj: Outcome) -> jax.Array: ...


@runtime_checkable
class FoldedRollout(Protocol):
    """Trajectories that can be folded in one pass over time, fused into the rollout:
    ``fold(params, noise, fn, init)`` calls ``fn(carry, t, x_t, u_t)`` step by step."""

    def fold(self, params: Params, noise: Noise, fn: Any, init: Any) -> Any: ...


@runtime_checkable
class GaussianTrajectories(Protocol):
    """Trajectories whose every quantity is a quadratic polynomial of standard normals (LQR): the exact
    ``gaussian_representation``, ``value_functions`` and ``critic_quadratics`` that give exact moments of
    the trajectory estimators and their exact critics."""

    def gaussian_representation(self, params: Params) -> dict: ...

    def value_functions(self, params: Params) -> tuple[jax.Array, jax.Array]: ...

    def critic_quadratics(self, rep: dict, Ps: jax.Array, cs: jax.Array) -> Any: ...


@runtime_checkable
class EpisodeBatches(Protocol):
    """Episodes of a simulated environment under a policy (:class:`pgjax.problems.environment.
    EnvironmentProblem`): no exact objective, and samples that are not differentiable in the parameters."""

    environment: Any
    policy: Any

    def values(self, batch: Outcome) -> jax.Array: ...


@runtime_checkable
class ParameterExploring(Protocol):
    """Parameter-exploring policy gradients (PGPE): gains K = K_mean + sigma_K xi drawn once per episode,
    ``sample_noise`` returns a dict with the standard normals ``xi``."""

    def gains(self, params: Params, noise: Noise) -> jax.Array: ...


@runtime_checkable
class SampleCost(Protocol):
    """A problem whose one sample costs more than one elementary step: ``sample_cost`` elementary steps (an
    episode of H steps costs H). The engine sizes its vmapped micro-batch by it (:func:`sample_cost`,
    :func:`pgjax.engine.run_sweep`), so that a micro-batch holds about as many steps whatever the horizon."""

    @property
    def sample_cost(self) -> int: ...


@runtime_checkable
class FiniteOutcomes(Protocol):
    """A problem with finitely many outcomes: ``num_outcomes`` N and ``outcomes()``, all N of them as one batch
    (leading axis N, a fixed order), so that ``log_prob(params, outcomes())`` (N,) and ``reward(outcomes())`` (N,)
    give every expectation as an exact finite sum (:mod:`pgjax.problems.finite`), and an estimator can draw
    outcomes WITHOUT replacement (Gumbel-top-k over the N log-probabilities; Kool, van Hoof & Welling 2019,
    "Stochastic Beams and Where to Find Them"): the categorical bandit's K arms, the 2^d Bernoulli vectors."""

    @property
    def num_outcomes(self) -> int: ...

    def outcomes(self) -> Outcome: ...


@runtime_checkable
class PromptGroups(Protocol):
    """One sample answers each of ``num_prompts`` prompts: ``prompt_rewards(outcome) -> (n, P)`` and
    ``prompt_log_probs(params, outcome) -> (n, P)``, the reward and log-probability of each prompt's answer
    (the core ``reward`` and ``log_prob`` are their mean and sum). The n samples of one estimate are then a
    group of G = n answers per prompt."""

    num_prompts: int

    def prompt_rewards(self, outcome: Outcome) -> jax.Array: ...

    def prompt_log_probs(self, params: Params, outcome: Outcome) -> jax.Array: ...


class SuccessMoments(NamedTuple):
    """The success/failure reduction of a 0/1 per-prompt reward, flat over the C coordinates of params
    (``jax.flatten_util.ravel_pytree`` order), float64 when params are:

    - ``success`` (P,): p_q = P(r = 1) for prompt q;
    - ``prompt`` (C,) int: the prompt whose answer's score moves coordinate c (its score is 0 for the others);
    - ``direction`` (C,): d_c with E[psi_c | r] = (r - p) d_c, so that grad_c p = p (1 - p) d_c;
    - ``within1``, ``within0`` (C,): Var[psi_c | r = 1] and Var[psi_c | r = 0], the score's spread among the
      correct (incorrect) answers; both 0 for a Bernoulli policy (K = 2 answers, one correct).

    Given the rewards of a group, the scores of its answers are independent with these conditional moments,
    which is what makes every group baseline's exact mean and variance a finite sum over the number of
    successes k ~ Binomial(G, p) (:func:`pgjax.estimators.group.exact_group_moments`)."""

    success: Any
    prompt: Any
    direction: Any
    within1: Any
    within0: Any


@runtime_checkable
class ExactSuccessMoments(Protocol):
    """Prompt groups with a 0/1 reward and its exact success/failure reduction (:class:`SuccessMoments`)."""

    def success_moments(self, params: Params) -> SuccessMoments: ...


def sample_cost(problem: Problem) -> int:
    """Elementary steps in one sample of ``problem``: its :class:`SampleCost` ``sample_cost``, else 1 (a
    bandit or a test function draws a sample in one step)."""
    if isinstance(problem, SampleCost):
        cost = int(problem.sample_cost)
        if cost < 1:
            raise ValueError(f"{type(problem).__name__}.sample_cost must be >= 1 (got {cost})")
        return cost
    return 1


class StateBaselineMoments(NamedTuple):
    """Exact second moments of state-baselined single-sample estimates, per coordinate c, each shaped like params:

    - ``value``   E[(r - V(s))^2 psi_c^2] with V(s) = E[r | s];
    - ``optimal`` E[(r - b*_c(s))^2 psi_c^2] with b*_c(s) = E[r psi_c^2 | s] / E[psi_c^2 | s].

    The single-sample variance of either estimator is the moment minus (grad_c J)^2 (both are unbiased, since
    E[psi | s] = 0).
    """

    value: Any
    optimal: Any


@runtime_checkable
class StateBaselines(Protocol):
    """A one-step problem whose outcome holds a state s drawn before the action, with exact state-dependent
    baselines: ``state_value(params, outcome) -> (n,)`` the value V(s_i) = E[r | s_i];
    ``optimal_state_baseline(params, outcome)`` the variance-minimising state-dependent baseline per coordinate,
    b*_c(s_i) = E[r psi_c^2 | s_i] / E[psi_c^2 | s_i], as a pytree shaped like params with a leading axis n on
    every leaf; and ``state_baseline_moments(params) -> StateBaselineMoments``, their exact second moments."""

    def state_value(self, params: Params, outcome: Outcome) -> jax.Array: ...

    def optimal_state_baseline(self, params: Params, outcome: Outcome) -> Params: ...

    def state_baseline_moments(self, params: Params) -> StateBaselineMoments: ...


@runtime_checkable
class FactorisedActions(Protocol):
    """A policy pi(a | s) = prod_i pi_i(a_i | s) over D action coordinates (Wu et al. 2018, "Variance Reduction
    for Policy Gradient with Action-Dependent Factorized Baselines"): ``action_log_probs(params, outcome) -> (n,
    D)`` the log pi_i(a_i | s) of each coordinate; ``action_baselines(params, outcome) -> (n, D)`` the exact
    action-dependent baseline b_i = E[r | s, a_{-i}] of each coordinate; ``action_baseline_moments(params)``
    the exact E[(sum_i (r - b_i) d log pi_i / d param_c)^2], shaped like params."""

    def action_log_probs(self, params: Params, outcome: Outcome) -> jax.Array: ...

    def action_baselines(self, params: Params, outcome: Outcome) -> jax.Array: ...

    def action_baseline_moments(self, params: Params) -> Params: ...


@runtime_checkable
class ReferencePolicy(Protocol):
    """A sampling policy p (the problem's own, p = pi_params: ``log_prob(params, outcome)`` gives log p(x)) and a
    fixed reference policy q over the same outcomes: ``reference_log_prob(outcome) -> (n,)`` log q(x) of each
    outcome, and ``exact_kl(params)``, the exact KL(p || q) = E_p[log p(x) - log q(x)] (a scalar), the number the
    sample KL estimators of :mod:`pgjax.estimators.kl` estimate (:class:`pgjax.problems.kl_pair.KLPair`)."""

    def reference_log_prob(self, outcome: Outcome) -> jax.Array: ...

    def exact_kl(self, params: Params) -> jax.Array: ...


#: How messages name each capability ("needs a problem with <this>").
CAPABILITIES: dict[type, str] = {
    ExactScoreMoments: "exact score moments (score_moments)",
    GaussianStructure: (
        "Gaussian structure, gaussian(params) and f(x): the Gaussian test functions (test-function-variance, "
        "mohamed2020-fig2, mohamed2020-fig3) or the linear-Gaussian bandit (bandit-variance)"
    ),
    SeparableGaussian: "a separable Gaussian test function (coordinate_function)",
    GroupedSamples: "grouped samples (sample_groups)",
    Trajectories: "trajectory structure (per-step log-probabilities and rewards)",
    FoldedRollout: "a one-pass rollout (fold)",
    GaussianTrajectories: "exact Gaussian trajectories (LQR)",
    EpisodeBatches: "episodes of a simulated environment",
    ParameterExploring: "parameter-exploring gains (PGPE)",
    SampleCost: "a declared per-sample cost (sample_cost)",
    FiniteOutcomes: (
        "finitely many enumerable outcomes (num_outcomes, outcomes()): the softmax bandit or the Bernoulli "
        "vectors (kool2020-bernoulli)"
    ),
    StateBaselines: (
        "exact state-dependent baselines (state_value, optimal_state_baseline): the contextual bandit "
        "(variance-vs-n contextual) or the target-matching task (wu2018)"
    ),
    FactorisedActions: "a factorised policy with exact action-dependent baselines: the target-matching task (wu2018)",
    PromptGroups: "prompt groups (prompt_rewards, prompt_log_probs): the success bandit (group-baselines)",
    ExactSuccessMoments: "a 0/1 reward's exact success moments (success_moments): the success bandit",
    ReferencePolicy: (
        "a fixed reference policy q and the exact KL(p || q) (reference_log_prob, exact_kl): the categorical KL "
        "pair (kl-estimators)"
    ),
}


def describe_capability(capability: type) -> str:
    """The words for ``capability`` in a message: its entry in :data:`CAPABILITIES`, or its class name."""
    return CAPABILITIES.get(capability, capability.__name__)


def iid_samples(problem: Any) -> bool:
    """True unless the problem's samples come in dependent groups (:class:`GroupedSamples`, e.g. antithetic
    pairs), for which (single-sample variance) / n is not the n-sample variance."""
    return not isinstance(problem, GroupedSamples)


def exact_gradient(problem: Problem, params: Params) -> Params:
    """grad J(params) in float64: ``jax.grad(problem.objective)`` evaluated with 64-bit floats enabled."""
    with jax.enable_x64(True):
        params64 = jax.tree.map(lambda x: jax.numpy.asarray(x, dtype=jax.numpy.float64), params)
        return jax.tree.map(lambda x: jax.device_get(x), jax.grad(problem.objective)(params64))
