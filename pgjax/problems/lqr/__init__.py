"""Finite-horizon linear-quadratic control with a Gaussian policy: exact objective, values and moments.

The subpackage has one module per part, and re-exports their public names, so ``from pgjax.problems.lqr
import X`` is the way to use them:

* :mod:`pgjax.problems.lqr.regulator`: the problem (:class:`LinearQuadraticRegulator`, :class:`LQRParams`,
  :class:`Trajectory`) with its exact objective, value functions and Gaussian representation; the module
  docstring gives the mathematics;
* :mod:`pgjax.problems.lqr.moments`: exact moments of quadratic polynomials of a standard normal vector
  (:class:`Quadratic`, :func:`moment2`, :func:`moment3`, :func:`moment4`), which give the estimators'
  exact variances on this problem;
* :mod:`pgjax.problems.lqr.systems`: the named systems of the experiments (:data:`SYSTEMS`,
  :func:`make_system`);
* :mod:`pgjax.problems.lqr.pgpe`: parameter-exploring policy gradients on those systems
  (:class:`ParameterExploringLQR`);
* :mod:`pgjax.problems.lqr.open_loop`: LQG with an open-loop time-indexed Gaussian policy, Tucker et al.'s
  (2018) point mass (:class:`OpenLoopLQG`).
"""

from __future__ import annotations

from pgjax.problems.lqr.moments import (
    Quadratic,
    combine,
    moment2,
    moment3,
    moment4,
    product_sum_moments,
    quadratic_coefficients,
    quadratic_cov,
    quadratic_mean,
)
from pgjax.problems.lqr.open_loop import OpenLoopLQG
from pgjax.problems.lqr.pgpe import ParameterExploringLQR, PGPEOutcome, PGPEParams
from pgjax.problems.lqr.regulator import (
    LinearQuadraticRegulator,
    LQRParams,
    Matrix,
    Trajectory,
    evaluate_quadratic_values,
)
from pgjax.problems.lqr.regulator import _vary_like as _vary_like  # pgjax.estimators.trajectory imports it here
from pgjax.problems.lqr.systems import SYSTEMS, make_system

__all__ = [
    "Matrix",
    "Quadratic",
    "combine",
    "quadratic_coefficients",
    "quadratic_mean",
    "quadratic_cov",
    "moment2",
    "moment3",
    "moment4",
    "product_sum_moments",
    "LQRParams",
    "Trajectory",
    "LinearQuadraticRegulator",
    "evaluate_quadratic_values",
    "SYSTEMS",
    "make_system",
    "PGPEParams",
    "PGPEOutcome",
    "ParameterExploringLQR",
    "OpenLoopLQG",
]
