"""Policy-gradient variants on Pendulum-v1 with a Gaussian policy: learning curves over 256 seeds.

The continuous-action counterpart of cartpole-reinforce: a ~ N(mu(x), sigma^2) from an MLP-Gaussian policy
(state-independent log sigma), the torque clipped to [-2, 2] by the environment, episodes of Pendulum-v1's
200 steps (it never terminates), discount 0.99. Plain score-function methods learn the swing-up slowly; the
curves show how much the baselines and the critic buy, with 95% stratified-bootstrap intervals on the IQM.
"""

from __future__ import annotations

import dataclasses

from pgjax.experiments import training_runs
from pgjax.experiments.training_runs import PROGRESS_UNIT, TrainingConfig, draw, headline, retable, save

NAME = "pendulum-gaussian"


@dataclasses.dataclass(frozen=True)
class Config(TrainingConfig):
    """Learning curves of REINFORCE variants on Pendulum-v1 (continuous torque) with an MLP-Gaussian policy,
    256 seeds."""

    env: str = "pendulum"
    """Environment (a continuous-action one: pendulum or mountain-car-continuous)."""
    policy: str = "mlp-gaussian"
    """Policy: linear-gaussian or mlp-gaussian."""
    hidden: tuple[int, ...] = (32, 32)
    """Hidden layer widths of the MLP policy."""
    estimators: tuple[str, ...] = ("reinforce", "reward_to_go", "leave_one_out", "value_baseline", "gae")
    """Estimator variants to train (see pgjax.estimators.episodic)."""
    episodes: int = 16
    """Episodes per update."""
    horizon: int = 200
    """Steps per episode (Pendulum-v1's own limit)."""
    updates: int = 200
    """Policy updates per run (a multiple of --log-every)."""
    log_every: int = 10
    """Updates per metrics row."""
    learning_rates: tuple[float, ...] = (0.01,)
    """Policy learning rates, each > 0."""
    discount: float = 0.99
    """Discount gamma in (0, 1]."""
    target: float | None = None
    """A return to mark on the figure (None: no line)."""


def run(config: Config = Config(), *, progress=None, execution: dict | None = None):
    """Trains every variant (nothing is written; see :func:`save`)."""
    return training_runs.run(NAME, config, progress=progress, execution=execution)


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks).
HOOKS = training_runs.hooks()
total_work = training_runs.total_work

# The shared outputs of the training experiments stay importable from here too.
__all__ = ["HOOKS", "NAME", "PROGRESS_UNIT", "Config", "draw", "headline", "retable", "run", "save", "total_work"]
