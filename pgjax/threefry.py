"""The generator of the engine's fast path (``run_sweep(prng="threefry-fast")``, :mod:`pgjax.engine.prng`):
JAX's threefry2x32 numbers, computed by another program.

Threefry-2x32 with 20 rounds (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3",
SC 2011: the Random123 default, which passes TestU01's BigCrush there), with JAX's key schedule and bit
layout: the seed's key, ``split``, ``fold_in`` and the random bits (element p: ``y0 XOR y1`` of the block of
counter (0, p)) are exactly JAX's threefry values (tested), hence so are the uniforms, normals, Gumbels, ...
drawn from them. What differs is the program: JAX lowers the 20 rounds on a CPU as a rolled loop over whole
arrays, written to memory every 4 rounds; here they are unrolled, so XLA fuses the whole hash into one loop.
XLA's CPU fusion would then copy the hash into every consumer of the numbers (an estimator reads its normals in
several fusions: up to four hashes per number); the bits are therefore computed as two halves joined by a
``concatenate``, which XLA does not fuse through, so each number is hashed once.

A foundation module (it imports no other part of pgjax), so that estimators can ask a key whether it is a
fast-path key (:func:`is_fast`) without importing the engine.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax
from jax.extend.random import define_prng_impl

#: Rotation constants of Threefry-2x32 (Salmon et al. 2011, Table 4; the Random123 values).
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
#: Threefish key-schedule parity constant for 32-bit words.
_PARITY = 0x1BD11BDA


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
    # JAX's (partitionable) threefry split: key i of the flat index is the block of counter (0, i).
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
    # JAX's (partitionable) threefry bits: element p is y0 ^ y1 of the block of counter (0, p) (64-bit: y0, y1).
    size = math.prod(shape)
    if size >= 2**32:
        raise ValueError(f"cannot draw {size} random numbers from one key (at most 2^32 - 1)")

    def block(start: int, stop: int) -> jax.Array:
        counter = lax.iota(jnp.uint32, stop - start) + jnp.uint32(start)
        y0, y1 = threefry2x32_20(key[0], key[1], jnp.zeros_like(counter), counter)
        if bit_width == 64:
            wide = jnp.dtype("uint64")
            return (y0.astype(wide) << wide.type(32)) | y1.astype(wide)
        return y0 ^ y1

    # Two halves, concatenated: XLA's CPU fusion duplicates cheap integer chains into every consumer (an
    # estimator reads its normals in several fusions: up to 4 hashes per number), but never fuses through a
    # concatenate, so the hash is computed once per number into an array. The halves split the first axis longer
    # than 1 (a reshape after the concatenate would be fused into an index computation that hashes twice), and
    # their values are those of one block over all elements.
    axis = next((i for i, d in enumerate(shape) if d >= 2), None) if size else None
    if axis is None:
        bits = block(0, size).reshape(shape)
    else:
        half, inner = shape[axis] // 2, math.prod(shape[axis + 1 :])
        first = block(0, half * inner).reshape(*shape[:axis], half, *shape[axis + 1 :])
        second = block(half * inner, size).reshape(*shape[:axis], shape[axis] - half, *shape[axis + 1 :])
        bits = jnp.concatenate([first, second], axis=axis)
    return bits if bit_width in (32, 64) else bits.astype(jnp.dtype(f"uint{bit_width}"))


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


def is_fast(key: jax.Array) -> bool:
    """Whether ``key`` is a typed key of :data:`THREEFRY_FAST` (static: the implementation is part of the key's
    type, so this is decided when a program is traced, and a jit cache never mixes the two)."""
    return jax.random.key_impl(key) == THREEFRY_FAST
