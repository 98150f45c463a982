"""A home for ``optax.monte_carlo`` (removed in optax 0.2.7): the Monte Carlo gradient estimators and control
variates of Mohamed, Rosca, Figurnov & Mnih (2020), "Monte Carlo Gradient Estimation in Machine Learning",
with optax's names, arguments and outputs, and ``multi_normal``, the distribution builder they were used with.

Replace ``from optax import monte_carlo`` with ``from pgjax import mc as monte_carlo`` and
``optax.utils.multi_normal`` with ``pgjax.mc.multi_normal``; see ``docs/coming-from-optax-monte-carlo.md``.
"""

from pgjax.mc.control_variates import (
    control_delta_method,
    control_variates_jacobians,
    estimate_control_variate_coefficients,
    moving_avg_baseline,
)
from pgjax.mc.distributions import MultiNormalDiagFromLogScale, multi_normal
from pgjax.mc.gradient_estimators import (
    DistributionProblem,
    measure_valued_estimation_mean,
    measure_valued_estimation_std,
    measure_valued_jacobians,
    pathwise_jacobians,
    score_function_jacobians,
)

__all__ = [
    "DistributionProblem",
    "MultiNormalDiagFromLogScale",
    "control_delta_method",
    "control_variates_jacobians",
    "estimate_control_variate_coefficients",
    "measure_valued_estimation_mean",
    "measure_valued_estimation_std",
    "measure_valued_jacobians",
    "moving_avg_baseline",
    "multi_normal",
    "pathwise_jacobians",
    "score_function_jacobians",
]
