"""Policy gradients from pixels on Pong (gymnax's Pong-misc), after Karpathy's "Pong from Pixels" (2016).

Karpathy's set-up: the policy sees the difference of two consecutive frames, flattened; one hidden layer of
200 ReLU units; RMSProp (decay 0.99); the discounted returns (gamma = 0.99) of a batch normalised to zero
mean and unit variance (``normalised_return``; biased, but the recipe of the post). Pong-misc is a small
30 x 40 x 3 Pong against a scripted opponent with three actions (stay, up, down; Karpathy had two on Atari).

Two configurations:

- the default is a CPU smoke run (a few updates, 8 seeds): it checks that the whole pipeline runs;
- ``--full`` is meant for a GPU: 64 seeds x 2000 updates x 10 episodes of 1000 steps (1.3e9 environment
  steps with a 720k-parameter policy; about 9 GiB of policy inputs per update, so it wants a GPU with more
  than 16 GiB). Expected running time: on this project's 2-core CPU the training measured 18,000 steps/s
  (4 seeds x 10 episodes of 1000 steps per update), so about 20 hours; on one data-centre GPU, an estimated
  10 to 30 minutes, bound by the 2 million steps that must run in sequence (1000 per rollout x 2000 updates),
  each a (640 x 3600) x (3600 x 200) product. Not yet measured on a GPU.
"""

from __future__ import annotations

import dataclasses

from pgjax.experiments import training_runs
from pgjax.experiments.training_runs import PROGRESS_UNIT, TrainingConfig, draw, headline, retable, save

NAME = "pong-pixels"

FULL = dict(n_seeds=64, updates=2000, log_every=20, episodes=10, horizon=1000)


@dataclasses.dataclass(frozen=True)
class Config(TrainingConfig):
    """Karpathy's Pong from Pixels on gymnax Pong-misc: a CPU smoke run by default, --full for a GPU."""

    env: str = "pong"
    """Environment (pong: gymnax Pong-misc, 30 x 40 x 3 pixels)."""
    policy: str = "pong-mlp"
    """Policy: pong-mlp (200 ReLU units on the frame difference)."""
    estimators: tuple[str, ...] = ("normalised_return", "leave_one_out")
    """Estimator variants (normalised_return is Karpathy's recipe)."""
    n_seeds: int = 8
    """Seeds per variant."""
    episodes: int = 4
    """Episodes per update."""
    horizon: int = 200
    """Steps per episode (Pong-misc's own limit is 1000)."""
    updates: int = 4
    """Policy updates per run."""
    log_every: int = 2
    """Updates per metrics row."""
    learning_rates: tuple[float, ...] = (1e-3,)
    """RMSProp learning rates (Karpathy: 1e-4 with batches of 10 Atari episodes)."""
    optimiser: str = "rmsprop"
    """Policy optimiser (Karpathy: RMSProp, decay 0.99)."""
    discount: float = 0.99
    """Discount gamma."""
    target: float | None = None
    """A return to mark on the figure."""
    bootstrap_reps: int = 500
    """Bootstrap replicates of the intervals."""
    chunks: int = 2
    """Host-side chunks per run."""
    full: bool = False
    """The GPU configuration: 64 seeds x 2000 updates x 10 episodes of 1000 steps (overrides those fields)."""

    def resolved(self) -> Config:
        return dataclasses.replace(self, **FULL, full=False) if self.full else self


def run(config: Config = Config(), *, progress=None, execution: dict | None = None):
    """Trains every variant (nothing is written; see :func:`save`)."""
    return training_runs.run(NAME, config.resolved(), progress=progress, execution=execution)


def total_work(config: Config) -> int:
    return training_runs.total_work(config.resolved())


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks).
HOOKS = training_runs.hooks(total_work)

# The shared outputs of the training experiments stay importable from here too.
__all__ = ["HOOKS", "NAME", "PROGRESS_UNIT", "Config", "draw", "headline", "retable", "run", "save", "total_work"]
