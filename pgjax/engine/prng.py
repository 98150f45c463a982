"""The engine's choice of pseudo-random number generator (``run_sweep(prng=...)``, ``pgjax run --prng``).

Every random number in pgjax is drawn through ``jax.random`` from the typed key the engine derives per seed,
``fold_in(fold_in(key(seed), i), n)`` (:func:`pgjax.engine.seed_key`). A typed key carries its PRNG
implementation, so the choice of generator is made once, for the base key, and every ``split``, ``fold_in``,
``normal``, ``gumbel``, ... inside problems and estimators follows it; no problem code changes.

Choices (:data:`PRNGS`):

- ``"threefry"`` (the default): JAX's own ``threefry2x32`` implementation. Every committed result uses it.
- ``"threefry-fast"``: the same block function, Threefry-2x32 with 20 rounds (Salmon, Moraes, Dror and Shaw,
  "Parallel random numbers: as easy as 1, 2, 3", SC 2011; the Random123 default, which passes TestU01's
  BigCrush there), with the same key schedule: the seed's key, ``split`` and ``fold_in`` give exactly JAX's
  threefry keys (tested). Only the random bits differ. JAX hashes one 64-bit counter per 32-bit output and
  keeps ``y0 XOR y1`` of the two output words (and, on a CPU, lowers the 20 rounds as a rolled loop); here
  counter ``(2^31, j)`` gives the two words ``(y0_j, y1_j)``, both used, in the order
  ``bits = [y0_0 .. y0_{h-1}, y1_0 .. y1_{h-1}][:size]`` with ``h = ceil(size / 2)``, and the rounds are
  unrolled so that XLA fuses the whole hash into the consumer of the bits. The high counter word 2^31 keeps
  these counters apart from those of ``split`` and ``fold_in`` (whose high word is 0). Half the hashes per
  number, and no loop: about 2.5-3x JAX's threefry normals on a 2-core CPU (``pgjax bench``).

Both are counter-based: a seed's numbers are a pure function of its key, computed elementwise, so per-seed
estimates stay bit-identical across chunk sizes, devices and processes for either choice (tested through the
engine). A result's numbers depend on the choice; the engine records it (``Sweep.execution["prng"]``, the
manifest's ``execution``), and a resumed cell is only reused under the same choice.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from jax import lax
from jax.extend.random import define_prng_impl

from pgjax.errors import ConfigError

#: The default generator: JAX's threefry2x32.
DEFAULT_PRNG = "threefry"
#: The generators ``run_sweep(prng=...)`` and ``pgjax run --prng`` accept.
PRNGS = ("threefry", "threefry-fast")

#: Rotation constants of Threefry-2x32 (Salmon et al. 2011, Table 4; the Random123 values).
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
#: Threefish key-schedule parity constant for 32-bit words.
_PARITY = 0x1BD11BDA
#: High counter word of the random-bits counters (split and fold_in use 0).
_BITS_DOMAIN = 1 << 31


def threefry2x32_20(k0: jax.Array, k1: jax.Array, x0: jax.Array, x1: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Threefry-2x32-20 of counter (x0, x1) under key (k0, k1), all uint32, broadcast; unrolled.

    Round r: ``x0 += x1; x1 = rotl(x1, R[r]); x1 ^= x0``; every 4 rounds the key schedule
    ``ks = (k0, k1, k0 ^ k1 ^ 0x1BD11BDA)`` is injected: ``x0 += ks[j % 3]; x1 += ks[(j + 1) % 3] + j``
    (Salmon et al. 2011, Section 3.2). The same function as JAX's threefry2x32.
    """
    u32 = jnp.uint32
    ks = (k0, k1, k0 ^ k1 ^ u32(_PARITY))
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for r in range(20):
        x0 = x0 + x1
        rot = _ROTATIONS[(r // 4) % 2][r % 4]
        x1 = lax.shift_left(x1, u32(rot)) | lax.shift_right_logical(x1, u32(32 - rot))
        x1 = x1 ^ x0
        if r % 4 == 3:
            j = r // 4 + 1
            x0 = x0 + ks[j % 3]
            x1 = x1 + ks[(j + 1) % 3] + u32(j)
    return x0, x1


def _seed(seed: jax.Array) -> jax.Array:
    # JAX's threefry seeding: the key of seed s is the same (2,) uint32 pair as jax.random.key(s).
    return jax.random.key_data(jax.random.key(seed, impl="threefry2x32"))


def _split(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    # JAX's (partitionable) threefry split: key i of the flat index is the block of counter (hi(i), lo(i)).
    size = math.prod(shape)
    if size >= 2**32:
        raise ValueError(f"cannot split into {size} keys (at most 2^32 - 1)")
    counter = lax.iota(jnp.uint32, size)
    y0, y1 = threefry2x32_20(key[0], key[1], jnp.zeros_like(counter), counter)
    return jnp.stack([y0, y1], axis=-1).reshape(*shape, 2)


def _fold_in(key: jax.Array, data: jax.Array) -> jax.Array:
    # JAX's threefry fold_in: the block of counter (0, data).
    y0, y1 = threefry2x32_20(key[0], key[1], jnp.uint32(0), jnp.asarray(data, jnp.uint32))
    return jnp.stack([y0, y1])


def _random_bits(key: jax.Array, bit_width: int, shape: tuple[int, ...]) -> jax.Array:
    size = math.prod(shape)
    blocks = size if bit_width == 64 else (size + 1) // 2
    if blocks >= 2**32:
        raise ValueError(f"cannot draw {size} random numbers from one key (at most 2^33 - 2)")
    counter = lax.iota(jnp.uint32, blocks)
    y0, y1 = threefry2x32_20(key[0], key[1], jnp.full_like(counter, _BITS_DOMAIN), counter)
    if bit_width == 64:
        wide = jnp.dtype("uint64")
        return ((y0.astype(wide) << wide.type(32)) | y1.astype(wide)).reshape(shape)
    bits = jnp.concatenate([y0, y1])[:size].reshape(shape)
    if bit_width == 32:
        return bits
    return bits.astype(jnp.dtype(f"uint{bit_width}"))


#: The ``threefry-fast`` key implementation (a ``jax.random`` key impl: pass it as ``impl=``).
THREEFRY_FAST = define_prng_impl(
    key_shape=(2,),
    seed=_seed,
    split=_split,
    random_bits=_random_bits,
    fold_in=_fold_in,
    name="pgjax_threefry_fast",
    tag="pgtf",
)


def check_prng(prng: str) -> str:
    """The name, or a ConfigError naming ``prng`` for one that is not in :data:`PRNGS`."""
    if prng not in PRNGS:
        raise ConfigError("prng", f"must be one of {', '.join(PRNGS)} (got {prng!r})")
    return prng


@functools.cache
def key_impl(prng: str):
    """The ``jax.random`` key implementation of a :data:`PRNGS` name (for ``impl=`` arguments)."""
    check_prng(prng)
    return "threefry2x32" if prng == "threefry" else THREEFRY_FAST


def base_key(seed: int, prng: str = DEFAULT_PRNG) -> jax.Array:
    """The typed base key ``key(seed)`` of the chosen generator (every per-seed key is derived from it)."""
    return jax.random.key(seed, impl=key_impl(prng))
