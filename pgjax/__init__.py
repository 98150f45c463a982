"""pgjax: Monte Carlo gradient estimators for reinforcement learning, measured against exact gradients.

The common entry points are importable from the top level (loaded lazily, so ``import pgjax`` is cheap)::

    pgjax.run_sweep        R seeds x a grid of n, every estimator         (pgjax.engine)
    pgjax.summarise_sweep  the statistics table of a sweep                (pgjax.experiment)
    pgjax.exact_variances  exact single-sample variances, where known     (pgjax.experiment)
    pgjax.save             write table, raw estimates, manifest, figures  (pgjax.experiment)
    pgjax.plotting, pgjax.analysis.stats, pgjax.io, pgjax.problems, pgjax.estimators
    pgjax.mc               optax.monte_carlo's API (docs/coming-from-optax-monte-carlo.md)
"""

from __future__ import annotations

import importlib

from pgjax.errors import ConfigError, PgjaxError

__version__ = "0.1.0"

_LAZY = {
    "run_sweep": ("pgjax.engine", "run_sweep"),
    "Sweep": ("pgjax.engine", "Sweep"),
    "summarise_sweep": ("pgjax.experiment", "summarise_sweep"),
    "exact_variances": ("pgjax.experiment", "exact_variances"),
    "save": ("pgjax.experiment", "save"),
    "ExperimentResult": ("pgjax.experiment", "ExperimentResult"),
}
_SUBMODULES = {"analysis", "engine", "estimators", "experiment", "io", "mc", "plotting", "problems", "tree_util"}


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in _SUBMODULES:
        return importlib.import_module(f"pgjax.{name}")
    raise AttributeError(f"module 'pgjax' has no attribute {name!r}")


__all__ = ["ConfigError", "PgjaxError", "__version__", *_LAZY, *sorted(_SUBMODULES)]
