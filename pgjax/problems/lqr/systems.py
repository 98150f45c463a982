"""The named LQR systems of the experiments (``--system``), built with a given policy and validated with the
experiments' field names.

Kept apart from :mod:`pgjax.problems.lqr.regulator` because it is a catalogue, not the problem: the
experiments (lqr-variance, lqr-horizon, lqr-gae, lqr-pgpe) share these systems, and a new one is one more
name in :data:`SYSTEMS` and one branch of :func:`make_system`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pgjax.errors import ConfigError
from pgjax.problems.lqr.regulator import LinearQuadraticRegulator

#: Named systems for experiments (see :func:`make_system`).
SYSTEMS = ("scalar", "double_integrator")


def make_system(
    system: str,
    *,
    horizon: int,
    gain: Sequence[float],
    sigma: float,
    x0: Sequence[float],
    x0_std: float = 0.0,
    process_std: float = 0.0,
    discount: float = 1.0,
) -> LinearQuadraticRegulator:
    """A named system with a given policy, validating with the experiments' field names.

    ``scalar``: x' = x + u + w, r = -(x^2 + 0.1 u^2) (m = a = 1; gain is (k,)).
    ``double_integrator``: (position, velocity) with dt = 0.2, r = -(p^2 + 0.1 v^2 + 0.1 u^2)
    (m = 2, a = 1; gain is (k_p, k_v)).
    """
    if system not in SYSTEMS:
        raise ConfigError("system", f"unknown system {system!r}; choose from {', '.join(SYSTEMS)}")
    m = 1 if system == "scalar" else 2
    if len(gain) != m:
        raise ConfigError("gain", f"the {system} system needs {m} gain(s) (got {len(gain)})")
    if len(x0) != m:
        raise ConfigError("x0", f"the {system} system needs an initial state of length {m} (got {len(x0)})")
    if not all(math.isfinite(g) for g in gain):
        raise ConfigError("gain", f"must be finite (got {tuple(gain)})")
    if not (math.isfinite(sigma) and sigma > 0):
        raise ConfigError("sigma", f"must be > 0 (got {sigma})")
    for field, value in (("x0_std", x0_std), ("process_std", process_std)):
        if not (math.isfinite(value) and value >= 0):
            raise ConfigError(field, f"must be >= 0 (got {value})")
    if isinstance(horizon, bool) or int(horizon) != horizon or horizon < 1:
        raise ConfigError("horizon", f"must be an integer >= 1 (got {horizon})")
    if not (math.isfinite(discount) and 0 < discount <= 1):
        raise ConfigError("discount", f"must be in (0, 1] (got {discount})")
    common = dict(
        sigma=float(sigma),
        horizon=int(horizon),
        x0_std=float(x0_std),
        process_std=float(process_std),
        discount=float(discount),
    )
    if system == "scalar":
        return LinearQuadraticRegulator.scalar(k=float(gain[0]), x0=float(x0[0]), **common)
    return LinearQuadraticRegulator.double_integrator(K=tuple(float(g) for g in gain), x0=tuple(x0), **common)
