"""Antithetic sampling as an option of the sampler: ``Antithetic(problem)``.

Antithetic variates (Hammersley & Morton 1956; Mohamed et al. 2020, Section 7.2, "coupling and common random
numbers") pair every noise draw eps with its mirror image -eps. For a problem whose noise is symmetric
(standard normals: the bandit, the Gaussian test functions), ``Antithetic(problem).sample_noise(key, n)``
draws n/2 noise values and returns them followed by their negatives, so the n samples form n/2 antithetic
pairs. Because estimators draw all their randomness through ``problem.sample_noise``, the wrapper works with
every estimator, unchanged; everything else is forwarded to the wrapped problem.

The pairs are NOT independent, so the i.i.d. variance formula Var_n = Var_1 / n does not hold: the wrapper
sets ``iid_samples = False``, and exact single-sample variances must not be used with it (pgjax's own
experiments report ``var_exact`` as NaN). n must be even.

Estimators that build a baseline or a coefficient for sample i from the OTHER samples of the batch rely on
their independence from sample i; its antithetic partner is not independent. ``sample_groups(n)`` tells them
which samples belong together, so they can leave out the whole pair: the delta-method control variates with an
estimated coefficient do. The leave-one-out baseline (RLOO) does not, and is biased under antithetic sampling;
the batch-mean and batch-optimal baselines are biased anyway.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Antithetic:
    """The problem ``problem`` with antithetic noise: (eps_1..eps_{n/2}, -eps_1..-eps_{n/2}).

    Attributes:
      problem: the wrapped problem; its noise must be symmetric in distribution (eps ~ -eps).
    """

    problem: Any
    #: Samples come in dependent pairs: exact i.i.d. variances do not apply.
    iid_samples: ClassVar[bool] = False

    @property
    def name(self) -> str:
        return f"{self.problem.name}+antithetic"

    def sample_noise(self, key: jax.Array, n: int) -> Any:
        """The wrapped problem's noise for n/2 draws, then the same draws negated; leading axis n."""
        if n % 2:
            raise ConfigError("ns", f"antithetic sampling pairs eps with -eps, so every n must be even (got {n})")
        half = self.problem.sample_noise(key, n // 2)
        return jax.tree.map(lambda e: jnp.concatenate([e, -e], axis=0), half)

    def sample_groups(self, n: int) -> np.ndarray:
        """Group id (n,) of each sample: sample i and its partner i + n/2 form group i mod n/2."""
        return np.arange(n) % max(n // 2, 1)

    def describe(self) -> str:
        return f"{self.problem.describe()}, antithetic pairs (eps, -eps)"

    def __getattr__(self, attr: str) -> Any:
        # Called only for attributes not found on the wrapper: forward to the wrapped problem.
        if attr.startswith("__") or attr == "problem":
            raise AttributeError(attr)
        return getattr(self.problem, attr)
