"""Variance of trajectory gradient estimators against the number of trajectories n, on finite-horizon LQR.

variance-vs-n on the lqr family with its defaults (:mod:`pgjax.experiments.variance_vs_n`). A fixed Gaussian
policy u = K x + sigma eps on a linear-quadratic control problem (default: a double integrator, two states and
one action, H = 20, random initial state, process noise). For every estimator (REINFORCE with the total
return, its constant and per-coordinate optimal baselines, reward-to-go, its time-dependent optimal baseline,
the exact and a learned state-value baseline, GAE, pathwise) and every n, R seeds give R independent
n-trajectory estimates, compared with the exact gradient jax.grad(J), J computed by exact moment propagation.
The table has bias, variance with a 95% CI (a bootstrap-t with extrapolated tails; pgjax.analysis.stats), the
EXACT variance (from Gaussian-polynomial moments) and the paired variance ratio against REINFORCE.

All estimators are compiled as one program (``run_sweep(..., fuse=True)``); each sees the same
keys as in a separate run, so the numbers are those of separate runs.
"""

from __future__ import annotations

from pgjax.experiment import ExperimentResult
from pgjax.experiments import variance_vs_n

NAME = "lqr-variance"

#: The lqr family's config of variance-vs-n; its defaults are this experiment's.
Config = variance_vs_n.LQRConfig


def run(config: Config = Config(), *, progress=None, execution: dict | None = None) -> ExperimentResult:
    """variance-vs-n on LQR (:func:`pgjax.experiments.variance_vs_n.run_family`); nothing is written.
    ``execution``: run_sweep keywords saying how to run, as ``pgjax run`` passes them."""
    return variance_vs_n.run_family(config, experiment=NAME, progress=progress, execution=execution)


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks):
#: the standard-bias figure of :func:`pgjax.plotting.settings.draw_variance`.
HOOKS = variance_vs_n.family_hooks("lqr")
