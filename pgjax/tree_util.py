"""Small pytree helpers: flat coordinate names and flattening gradients to vectors."""

from __future__ import annotations

import jax
import numpy as np
from jax.flatten_util import ravel_pytree


def _key_name(entry) -> str:
    for attr in ("name", "key", "idx"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def param_names(tree) -> list[str]:
    """One name per scalar coordinate of ``tree``, in ``ravel_pytree`` order.

    A leaf ``theta`` of shape (3,) gives ``theta[0]``, ``theta[1]``, ``theta[2]``; a scalar leaf
    ``log_sigma`` gives ``log_sigma``; a (2, 2) leaf ``K`` gives ``K[0,0]`` ... ``K[1,1]``.
    """
    names: list[str] = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        base = ".".join(_key_name(p) for p in path) or "param"
        shape = np.shape(leaf)
        if shape == ():
            names.append(base)
        else:
            names.extend(f"{base}[{','.join(map(str, idx))}]" for idx in np.ndindex(*shape))
    return names


def ravel(tree) -> jax.Array:
    """Concatenates all leaves of ``tree`` into one flat vector (``ravel_pytree`` order)."""
    return ravel_pytree(tree)[0]


def _varying_axes(x) -> set:
    """The manual mesh axes along which x varies (jax >= 0.10: ``manual_axis_type.varying``; older: ``vma``)."""
    aval = jax.typeof(x)
    manual = getattr(aval, "manual_axis_type", None)
    if manual is not None:
        return set(getattr(manual, "varying", ()) or ())
    return set(getattr(aval, "vma", None) or ())


def vary_like(tree, *refs):
    """Gives the leaves of ``tree`` the varying manual mesh axes of ``refs`` (a no-op outside
    ``jax.shard_map``). A ``lax.scan`` carry must keep one type, and pgjax's engine marks params as
    device-varying, so a carry initialised from constants must be cast before a scan whose body uses params."""
    axes: set = set()
    for leaf in jax.tree.leaves(refs):
        axes |= _varying_axes(leaf)
    if not axes:
        return tree

    def cast(x):
        missing = tuple(sorted(axes - _varying_axes(x)))
        return jax.lax.pcast(x, missing, to="varying") if missing else x

    return jax.tree.map(cast, tree)
