"""The fast path's generator (pgjax/threefry.py): Threefry-2x32-20 (Random123 known answers) giving JAX's
threefry keys, bits and draws exactly, and keys that say which generator they belong to."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.engine.prng import base_key
from pgjax.threefry import is_fast, threefry2x32_20

#: Known-answer tests of Threefry-2x32-20 from the Random123 distribution (kat_vectors): key, counter, output.
KAT = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


def test_block_function_matches_random123_known_answers():
    for key, counter, expected in KAT:
        out = threefry2x32_20(*(jnp.uint32(v) for v in (*key, *counter)))
        assert tuple(int(x) for x in out) == expected


def test_keys_bits_and_draws_are_jax_threefry_ones():
    """Seeding, fold_in, split and the random bits give JAX's threefry values exactly, and so do the draws made
    from them, for one-number and many-number shapes (one block, or two halves)."""

    @jax.jit
    def draw(key):
        key = jax.random.fold_in(jax.random.fold_in(key, 5), 64)
        a, b = jax.random.split(key)
        return (
            jax.random.key_data(jax.random.split(key, 3)),
            jax.random.bits(a, (1,), jnp.uint8),
            jax.random.bits(a, (2, 5), jnp.uint32),
            jax.random.normal(b, (64,)),
        )

    for fast, ref in zip(draw(base_key(3, "threefry-fast")), draw(jax.random.key(3)), strict=True):
        assert fast.dtype == ref.dtype and np.array_equal(fast, ref)


def test_is_fast_tells_the_two_generators_apart_inside_a_traced_program():
    seen = []

    @jax.jit
    def record(keys):
        seen.append(is_fast(keys))
        return jax.random.normal(keys[0], ())

    record(jax.random.split(base_key(0, "threefry-fast"), 2))
    record(jax.random.split(base_key(0), 2))
    assert seen == [True, False]
