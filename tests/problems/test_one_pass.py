"""The blocked mean of the one-pass score sums (pgjax/problems/base.py: one_pass_mean): the mean over the
leading axis, to float rounding, for every n (fewer values than blocks, a multiple of the blocks, a remainder)
and for real and complex values with trailing axes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.problems.base import ONE_PASS_BLOCKS, one_pass_mean


@pytest.mark.parametrize("n", [1, ONE_PASS_BLOCKS - 1, ONE_PASS_BLOCKS, ONE_PASS_BLOCKS + 3, 4096, 4099])
@pytest.mark.parametrize("shape", [(), (3,)])
def test_one_pass_mean_is_the_mean(n, shape):
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(n), (n, *shape)) + 0.5
        z = jax.lax.complex(x, x**2)
        np.testing.assert_allclose(one_pass_mean(x), np.mean(np.asarray(x), axis=0), rtol=1e-13)
        np.testing.assert_allclose(one_pass_mean(z), np.mean(np.asarray(z), axis=0), rtol=1e-13)
        assert one_pass_mean(x).shape == shape


def test_one_pass_mean_adds_every_value_once():
    """Each value lands in the sum exactly once: with the integers 1..n as values, every partial sum is exact in
    float32, so the blocked mean is the exact total n (n + 1) / 2 divided by n, for n with and without a
    remainder (a value skipped or added twice would change the total)."""
    for n in (ONE_PASS_BLOCKS * 5, ONE_PASS_BLOCKS * 5 + 7):
        x = jnp.arange(1, n + 1, dtype=jnp.float32)
        assert float(one_pass_mean(x)) == float(np.float32(n * (n + 1) // 2) / np.float32(n))
