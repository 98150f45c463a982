"""REINFORCE and its variants on CartPole-v1: learning curves over 256 seeds with honest intervals.

The set-up of the blog posts that teach policy gradients (a softmax policy on CartPole's four numbers),
done properly: every estimator variant is trained over 256 seeds in one compiled, vmapped call, and the
curves are the interquartile mean over seeds with 95% stratified-bootstrap intervals (Agarwal et al. 2021).
Episodes are capped at CartPole-v1's 500 steps, so 500 is the best return.
"""

from __future__ import annotations

import dataclasses

from pgjax.experiments import training_runs
from pgjax.experiments.training_runs import PROGRESS_UNIT, TrainingConfig, draw, headline, retable, save

NAME = "cartpole-reinforce"


@dataclasses.dataclass(frozen=True)
class Config(TrainingConfig):
    """Learning curves of REINFORCE variants (total return, reward-to-go, batch-mean and leave-one-out
    baselines, learned value baseline, GAE) on CartPole-v1 with a linear-softmax policy, 256 seeds."""


def run(config: Config = Config(), *, progress=None, execution: dict | None = None):
    """Trains every variant (nothing is written; see :func:`save`)."""
    return training_runs.run(NAME, config, progress=progress, execution=execution)


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks).
HOOKS = training_runs.hooks()
total_work = training_runs.total_work

# The shared outputs of the training experiments stay importable from here too.
__all__ = ["HOOKS", "NAME", "PROGRESS_UNIT", "Config", "draw", "headline", "retable", "run", "save", "total_work"]
