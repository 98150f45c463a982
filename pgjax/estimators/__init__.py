"""Gradient estimators: ``(key, params, problem, n) -> gradient pytree shaped like params``.

Estimators are small frozen dataclasses (hashable, so they are static under ``jax.jit``). Build one by name
with :func:`make_estimator`; add one by writing the class and registering it in :data:`ESTIMATORS`.
"""

from __future__ import annotations

from pgjax.errors import ConfigError
from pgjax.estimators.pathwise import Pathwise
from pgjax.estimators.score_function import (
    BatchMeanBaseline,
    ConstantBaseline,
    LeaveOneOutBaseline,
    OptimalBaselineBatch,
    OptimalBaselineExact,
    Reinforce,
    draw,
    weighted_score_mean,
)

#: Estimator classes by name, in the order experiments list them.
ESTIMATORS = {
    cls.name: cls
    for cls in (
        Reinforce,
        ConstantBaseline,
        BatchMeanBaseline,
        LeaveOneOutBaseline,
        OptimalBaselineExact,
        OptimalBaselineBatch,
        Pathwise,
    )
}


def make_estimator(name: str, *, baseline: float = 0.0):
    """The estimator called ``name``; ``baseline`` is the constant b of ``constant_baseline``."""
    if name not in ESTIMATORS:
        raise ConfigError("estimators", f"unknown estimator {name!r}; choose from {', '.join(ESTIMATORS)}")
    if name == ConstantBaseline.name:
        return ConstantBaseline(baseline=float(baseline))
    return ESTIMATORS[name]()


__all__ = [
    "ESTIMATORS",
    "BatchMeanBaseline",
    "ConstantBaseline",
    "LeaveOneOutBaseline",
    "OptimalBaselineBatch",
    "OptimalBaselineExact",
    "Pathwise",
    "Reinforce",
    "draw",
    "make_estimator",
    "weighted_score_mean",
]
