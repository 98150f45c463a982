"""Variance of gradient estimates against sample size on the contextual linear-Gaussian bandit.

variance-vs-n on the contextual family with its defaults (:mod:`pgjax.experiments.variance_vs_n`): s ~ N(m,
Sigma) with correlated coordinates, a | s ~ N(theta . s, sigma^2), and a reward that depends on both,
r = -(a - w . s)^2 - kappa |s|^2 (:mod:`pgjax.problems.contextual`). Constant baselines (J, the exact
per-coordinate optimum b*) against the exact state-dependent ones (the value V(s) = E[r | s] and the
variance-minimising b*_c(s) = E[r psi_c^2 | s] / E[psi_c^2 | s]), with exact variances from the moments of
quadratics of a standard normal.
"""

from __future__ import annotations

from pgjax.experiment import ExperimentResult
from pgjax.experiments import variance_vs_n

NAME = "contextual-bandit-variance"

#: The contextual family's config of variance-vs-n; its defaults are this experiment's.
Config = variance_vs_n.ContextualConfig


def run(config: Config = Config(), *, progress=None, execution: dict | None = None) -> ExperimentResult:
    """variance-vs-n on the contextual bandit (:func:`pgjax.experiments.variance_vs_n.run_family`); nothing is
    written (see :func:`pgjax.experiment.save`)."""
    return variance_vs_n.run_family(config, experiment=NAME, progress=progress, execution=execution)


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks).
HOOKS = variance_vs_n.family_hooks("contextual")
