"""The categorical KL pair (pgjax.problems.kl_pair): Gumbel-max draws are jax.random.categorical's, draw for
draw, in float64; one-line errors for bad logits."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.errors import ConfigError
from pgjax.problems.kl_pair import KLPair


def test_draws_are_categorical_draws():
    problem = KLPair.build(logits=[0.3, -1.0, 2.0, 0.1], reference_logits=[0.0, 0.2, 0.4, 0.6])
    key = jax.random.key(3)
    with jax.enable_x64(True):  # the precision kl-estimators samples in
        params = problem.init_params()
        x = problem.sample(params, problem.sample_noise(key, 500)).arm
        expected = jax.random.categorical(key, params.logits, shape=(500,))
        assert params.logits.dtype == jnp.float64 and problem.sample_noise(key, 2).dtype == jnp.float64
    np.testing.assert_array_equal(np.asarray(x), np.asarray(expected))
    assert len(set(np.asarray(x).tolist())) == 4  # every outcome drawn: the comparison compares something


@pytest.mark.parametrize(
    "kwargs,field",
    [
        (dict(logits=[0.0], reference_logits=[0.0]), "reference_logits"),
        (dict(logits=[0.0, 1.0], reference_logits=[0.0, float("nan")]), "reference_logits"),
        (dict(logits=[0.0, 1.0, 2.0], reference_logits=[0.0, 1.0]), "logits"),
    ],
)
def test_bad_logits_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as info:
        KLPair.build(**kwargs)
    assert info.value.field == field
