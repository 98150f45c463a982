"""The estimator contract, the one registry of estimators, and why an estimator cannot run on a problem.

An estimator is a frozen dataclass, subclass of :class:`Estimator`, called as ``(key, params, problem, n) ->
gradient pytree shaped like params``. It declares, as class attributes with defaults here:

- ``name``: its registry name;
- ``requires``: the capability protocols of :mod:`pgjax.problems.base` the problem must keep (empty: the core
  :class:`~pgjax.problems.base.Problem` is enough); ``excludes``: capabilities it cannot run with (e.g. the
  pathwise estimator and a simulated environment, whose samples are not differentiable);
- ``iid``: the n-sample estimate is the mean of n i.i.d. single-sample ones, so its variance is
  (single-sample variance) / n; ``unbiased``;
- ``single_sample_variance(problem, params)``: its exact variance (None where the problem does not give it);
  ``n_sample_variance(problem, params, n)``: the exact variance of its n-sample estimate (default: the
  single-sample variance / n for an i.i.d. estimator; estimators with dependent samples give their own);
  ``exact_variance(problem, params)``: the same, traceable; ``pinned(problem, params)``: a copy with constants
  computed once; ``function_evaluations(dim, n)``: evaluations of f per sample (None: one);
- ``gaussian_moments(problem, params, rep)`` and ``gaussian_moments_known``: the exact mean and second moment of
  its single-sample estimate on a problem with an exact Gaussian representation
  (:class:`~pgjax.problems.base.GaussianTrajectories`, LQR), from the estimator's own formula. An i.i.d.
  estimator that gives them has its exact variance there with no other code (:func:`exact_moments`; the default
  ``single_sample_variance`` uses them);
- ``from_options(options)``: how the registry builds it from the experiments' shared options
  (:class:`EstimatorOptions`);
- ``params_shaped``: whether its output is a gradient shaped like params (False for estimators that run others
  and return a tuple or a flat array, such as :class:`Fused`);
- ``sub_batchable`` and ``sub_batched(key, params, problem, n, block)``: whether, and how, one n-sample estimate
  can be computed over sub-batches of at most ``block`` samples, so that its memory does not grow with n (see
  "Sub-batches" below).

Sub-batches. The engine computes one seed's estimate in one call; past ``block`` samples
(:func:`estimate`, with the engine's micro-batch as ``block``) it asks a ``sub_batchable`` estimator for
``sub_batched``, which draws the n samples as ``q = n // block`` blocks of ``block`` samples and one block of
the ``n - q block`` left, block b from the key ``fold_in(key, b)``, and accumulates the estimate over them
(:func:`sum_over_sub_batches`: a ``lax.scan`` over the full blocks). The n samples are then i.i.d. draws as in
one call (on a problem whose samples are i.i.d., :func:`~pgjax.problems.base.iid_samples`), so the estimate has
the one-call estimator's distribution (its mean, bias and variance), though not its numbers for a given key.

- An i.i.d. estimator (``iid``: g = (1/n) sum_i g_i with g_i a function of sample i alone) is sub-batchable by
  default: g = (1/n) sum_b m_b g^(b), g^(b) the estimate of block b, of m_b samples.
- An estimator whose n samples share a statistic of the whole batch (the batch-mean and leave-one-out
  baselines: g = c_n (1/n) sum_i (r_i - rbar) psi_i) overrides ``sub_batched`` with an exact scheme: a first pass
  over the blocks for the shared statistic (rbar = (1/n) sum_b sum_{i in b} r_i), a second for the centred
  sum, in the same centred form as the one-call estimate (no cancellation of large sums).

Every call of a subclass's ``__call__`` is checked at its boundary, at trace time only (no cost in compiled
code): ``n`` is a positive integer, and a ``params_shaped`` output has the tree structure and leaf shapes of
``params`` (``chex.assert_trees_all_equal_shapes``); a violation is an AssertionError that names the estimator.

:func:`unavailable` reads ``requires`` and ``excludes`` and gives the reason an estimator (or its class) cannot
run on a problem, as one line, or None; :func:`pgjax.engine.run_sweep`, the experiments and the CLI report it as
a ConfigError naming ``estimators``.

The registry: :func:`register` (a class decorator) adds an estimator class under its ``name``;
:func:`registry` returns name -> class, with the estimators of other packages found through the
``pgjax.estimators`` entry-point group (an entry point names a class, or a module whose classes use
``@register``); :func:`make` builds one by name, and :func:`available_on` lists the names that run on a problem.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import operator
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any, ClassVar

import chex
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from pgjax.errors import ConfigError
from pgjax.problems.base import GaussianTrajectories, Params, Problem, describe_capability, iid_samples

#: Entry-point group through which other packages register estimators.
ENTRY_POINT_GROUP = "pgjax.estimators"


@dataclasses.dataclass(frozen=True)
class EstimatorOptions:
    """The options experiments pass when they build estimators by name; each estimator uses those it has."""

    baseline: float = 0.0
    """The constant b of constant_baseline."""
    lam: float = 0.95
    """lambda of GAE."""
    value: str = "exact"
    """The critic of GAE (exact, stationary, learned)."""
    n_pilot: int = 64
    """Pilot trajectories of the learned critics."""


def _checked_call(call: Callable[..., Any]) -> Callable[..., Any]:
    """``call`` (an estimator's ``__call__``) with the contract's boundary checks around it (see the module
    docstring). They read only static information (n and the shapes of the trees), so under ``jax.jit`` they
    run once, when the program is traced."""

    @functools.wraps(call)
    def checked(self: Estimator, key: jax.Array, params: Params, problem: Problem, n: int) -> Any:
        name = getattr(self, "name", type(self).__name__)
        try:
            count = operator.index(n)
        except TypeError:
            raise AssertionError(f"estimator {name!r}: n must be a static integer, got {type(n).__name__}") from None
        chex.assert_scalar_positive(count, custom_message=f"estimator {name!r}: n is the number of samples")
        out = call(self, key, params, problem, n)
        if self.params_shaped:
            chex.assert_trees_all_equal_shapes(
                out,
                params,
                custom_message=f"estimator {name!r} must return a gradient shaped like params (tree 0: its "
                "output, tree 1: params)",
            )
        return out

    checked.__pgjax_checked__ = True  # type: ignore[attr-defined]
    return checked


class Estimator:
    """The estimator contract (see the module docstring); subclasses are frozen dataclasses."""

    name: ClassVar[str]
    #: Capability protocols (pgjax.problems.base) the problem must keep.
    requires: ClassVar[tuple[type, ...]] = ()
    #: Capability protocols the problem must NOT have.
    excludes: ClassVar[tuple[type, ...]] = ()
    #: True when the n-sample estimate is the mean of n i.i.d. single-sample estimates.
    iid: ClassVar[bool] = False
    #: False for estimators that are biased at finite n.
    unbiased: ClassVar[bool] = True
    #: True when :meth:`gaussian_moments` gives the exact moments (declared, so callers select without a problem).
    gaussian_moments_known: ClassVar[bool] = False
    #: True when the output is a gradient shaped like params (checked at every call); False for estimators
    #: whose output is a tuple of gradients or a flat array (:class:`Fused`).
    params_shaped: ClassVar[bool] = True
    #: True when :meth:`sub_batched` computes the n-sample estimate over sub-batches of samples (default: the
    #: i.i.d. estimators, whose estimate is a mean of per-sample terms; see "Sub-batches" in the module docstring).
    sub_batchable: ClassVar[bool | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        call = cls.__dict__.get("__call__")
        if call is not None and not getattr(call, "__pgjax_checked__", False):
            cls.__call__ = _checked_call(call)  # type: ignore[method-assign]

    def __call__(self, key: jax.Array, params: Params, problem: Problem, n: int) -> Params:
        """(1/n-sample) gradient estimate shaped like params, with all randomness drawn from ``key``."""
        raise NotImplementedError(f"{type(self).__name__} does not define __call__")

    @classmethod
    def from_options(cls, options: EstimatorOptions) -> Estimator:
        """The estimator built from the experiments' options (default: no options)."""
        return cls()

    def check(self, problem: Problem) -> None:
        """Raises ConfigError naming ``estimators`` when this estimator cannot run on ``problem``."""
        reason = unavailable(self, problem)
        if reason is not None:
            raise ConfigError("estimators", reason)

    def single_sample_variance(self, problem: Problem, params: Params) -> Params | None:
        """Exact variance of a one-sample estimate, per coordinate (float64), or None if not available.

        Default: from :meth:`gaussian_moments` for an i.i.d. estimator on a problem with an exact Gaussian
        representation (:func:`exact_moments`), else None."""
        if self.iid and self.gaussian_moments_known and isinstance(problem, GaussianTrajectories):
            return exact_moments(self, problem, params)["var"]
        return None

    def n_sample_variance(self, problem: Problem, params: Params, n: int) -> Params | None:
        """Exact variance of the n-sample estimate, per coordinate (float64), or None if not available.

        Default: :meth:`single_sample_variance` / n for an i.i.d. estimator on a problem whose samples are
        i.i.d.; else None. Estimators whose n samples are not i.i.d. terms (leave-one-out baselines, samples
        drawn without replacement) override it where they can compute it."""
        if not (self.iid and iid_samples(problem)):
            return None
        var = self.single_sample_variance(problem, params)
        return None if var is None else jax.tree.map(lambda v: np.asarray(v, np.float64) / n, var)

    def exact_variance(self, problem: Problem, params: Params) -> Params:
        """The single-sample variance as a traceable function of params (jit / vmap); ConfigError if none."""
        raise ConfigError("estimators", f"{self.name!r} has no exact single-sample variance here")

    def gaussian_moments(
        self, problem: GaussianTrajectories, params: Params, rep: dict[str, Any]
    ) -> tuple[jax.Array, jax.Array] | None:
        """(E[g_c], E[g_c^2]), each flat (P,), of the SINGLE-sample estimate g on a problem with an exact Gaussian
        representation ``rep = problem.gaussian_representation(params)`` (every quantity of one sample a
        quadratic polynomial of standard normals; see :mod:`pgjax.problems.lqr`), or None when this estimator
        does not know them (the default). Called in float64 by :func:`exact_moments`; a subclass that
        overrides it sets ``gaussian_moments_known``."""
        return None

    def pinned(self, problem: Problem, params: Params) -> Estimator:
        """A copy whose quantities that depend only on params are computed once (default: itself)."""
        return self

    @classmethod
    def function_evaluations(cls, dim: int, n: int = 1) -> float | None:
        """Evaluations of f per sample, or None for one (the score-function and pathwise estimators)."""
        return None

    def members(self) -> tuple[Any, ...]:
        """The estimators this one runs inside it (a fused or wrapping estimator); each must be available too."""
        return ()

    def can_sub_batch(self) -> bool:
        """Whether :meth:`sub_batched` is available: ``sub_batchable``, by default ``iid``."""
        return bool(self.iid if self.sub_batchable is None else self.sub_batchable)

    def sub_batched(self, key: jax.Array, params: Params, problem: Problem, n: int, block: int) -> Params:
        """The n-sample estimate computed over sub-batches of at most ``block`` samples (see the module
        docstring). Default, for an i.i.d. estimator: g = (1/n) sum_b m_b g^(b), with g^(b) this estimator's
        estimate from block b's m_b samples (key ``fold_in(key, b)``)."""
        if not self.can_sub_batch():
            raise TypeError(f"estimator {self.name!r} does not compute its estimate over sub-batches")

        def block_sum(block_key: jax.Array, m: int) -> Params:
            return jax.tree.map(lambda x: x * m, self(block_key, params, problem, m))

        return jax.tree.map(lambda x: x / n, sum_over_sub_batches(block_sum, key, n, block))


def sub_batch_sizes(n: int, block: int) -> tuple[int, int]:
    """``(q, rest)``: n samples as q full sub-batches of ``block`` samples and one of ``rest`` (0: none)."""
    if block < 1 or n < 1:
        raise ValueError(f"n and block must be >= 1 (got n = {n}, block = {block})")
    return divmod(int(n), int(block))


def sum_over_sub_batches(fn: Callable[[jax.Array, int], Any], key: jax.Array, n: int, block: int) -> Any:
    """sum_b fn(fold_in(key, b), m_b) over the sub-batches of n samples: b = 0..q-1 of m_b = ``block`` samples
    (one ``lax.scan``, so one block's buffers are live at a time), then, if ``rest = n - q block > 0``, block q of
    ``rest`` samples. ``fn(key, m)`` returns a pytree whose shapes do not depend on m."""
    q, rest = sub_batch_sizes(n, block)
    total = None
    if q:
        # Zeros that vary with the key, so that under shard_map the carry varies over devices as the blocks'
        # terms do (plain zeros would be replicated, and scan requires the two to match).
        zero = jnp.zeros((), jnp.uint32) * jax.random.key_data(key).ravel()[0]
        shapes = jax.eval_shape(lambda: fn(key, block))
        init = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype) + zero.astype(s.dtype), shapes)

        def body(acc: Any, b: jax.Array) -> tuple[Any, None]:
            return jax.tree.map(jnp.add, acc, fn(jax.random.fold_in(key, b), block)), None

        total, _ = jax.lax.scan(body, init, jnp.arange(q, dtype=jnp.uint32))
    if rest:
        last = fn(jax.random.fold_in(key, q), rest)
        total = last if total is None else jax.tree.map(jnp.add, total, last)
    return total


def estimate(
    estimator: Any,
    key: jax.Array,
    params: Params,
    problem: Problem,
    n: int,
    block: int | None = None,
    threshold: int | None = None,
) -> Any:
    """One n-sample estimate as the engine computes it: ``estimator(key, params, problem, n)``, except that past
    ``threshold`` samples (n > threshold; default ``block``) an estimator that :meth:`Estimator.can_sub_batch`, on
    a problem whose samples are i.i.d., is computed over sub-batches of ``block`` samples
    (:meth:`Estimator.sub_batched`), so its memory does not grow with n; a :class:`Fused` estimator applies this
    to each member. At n <= threshold (or ``block`` None) the call is exactly the estimator's own, so its numbers
    are unchanged."""
    if isinstance(estimator, Fused):
        return tuple(estimate(m, key, params, problem, n, block, threshold) for m in estimator.members())
    past = block if threshold is None else threshold
    if block is not None and n > past and sub_batches(estimator, problem):
        return estimator.sub_batched(key, params, problem, n, block)
    return estimator(key, params, problem, n)


def sub_batches(estimator: Any, problem: Problem) -> bool:
    """Whether :func:`estimate` computes ``estimator`` over sub-batches past its block on ``problem`` (for a
    :class:`Fused` estimator: any of its members)."""
    if isinstance(estimator, Fused):
        return any(sub_batches(m, problem) for m in estimator.members())
    return isinstance(estimator, Estimator) and estimator.can_sub_batch() and iid_samples(problem)


def has_exact_moments(estimator: Any) -> bool:
    """Whether :func:`exact_moments` covers ``estimator``: a pgjax estimator that declares
    ``gaussian_moments_known`` (fixed-quadratic weights on LQR)."""
    return isinstance(estimator, Estimator) and bool(estimator.gaussian_moments_known)


def exact_moments(estimator: Estimator, problem: GaussianTrajectories, params: Params) -> dict[str, Params]:
    """Exact mean and variance of the SINGLE-sample estimate of ``estimator``, per coordinate (float64), from
    its :meth:`Estimator.gaussian_moments` on the problem's exact Gaussian representation.

    Returns ``{"mean": pytree, "var": pytree, "second": pytree}`` shaped like params. The n-sample estimate of
    an i.i.d. estimator has mean ``mean`` and variance ``var / n``. Exact up to float64 rounding (on LQR through
    the Gaussian-polynomial moments of :mod:`pgjax.problems.lqr`, O(P H^2 D^3)). ValueError for an estimator
    without them."""
    if not has_exact_moments(estimator):
        raise ValueError(f"no exact moments for {estimator!r}")
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), params)
        rep = problem.gaussian_representation(p64)
        moments = estimator.gaussian_moments(problem, p64, rep)
        if moments is None:
            raise ValueError(f"no exact moments for {estimator!r}")
        mean, second = (np.asarray(m, np.float64) for m in moments)
        _, unravel = ravel_pytree(p64)
        out = {"mean": mean, "second": second, "var": second - mean**2}
        return {k: jax.device_get(unravel(jnp.asarray(v))) for k, v in out.items()}


def _problem_name(problem: Any) -> str:
    return problem.name if isinstance(problem, Problem) else type(problem).__name__


def unavailable(estimator: Any, problem: Any) -> str | None:
    """Why ``estimator`` (an instance or a class) cannot run on ``problem``, as one line, or None if it can.

    Reads the estimator's declared ``requires`` and ``excludes``; an estimator that runs others inside it
    (:meth:`Estimator.members`, e.g. :class:`Fused`) is available when all of them are. An object that is not an
    :class:`Estimator` (a plain callable keeping only the call signature) needs nothing beyond the core
    problem contract."""
    if isinstance(estimator, Estimator):
        for member in estimator.members():
            reason = unavailable(member, problem)
            if reason is not None:
                return reason
    cls = estimator if isinstance(estimator, type) else type(estimator)
    if not issubclass(cls, Estimator):
        return None
    for capability in cls.requires:
        if not isinstance(problem, capability):
            return (
                f"{cls.name} needs a problem with {describe_capability(capability)}; {_problem_name(problem)} has none"
            )
    for capability in cls.excludes:
        if isinstance(problem, capability):
            return f"{cls.name} cannot run on {describe_capability(capability)}, and {_problem_name(problem)} is one"
    return None


def check_available(estimators: Mapping[str, Any] | Iterable[Any], problem: Any) -> None:
    """ConfigError naming ``estimators`` for the first estimator that cannot run on ``problem``."""
    for estimator in estimators.values() if isinstance(estimators, Mapping) else estimators:
        reason = unavailable(estimator, problem)
        if reason is not None:
            raise ConfigError("estimators", reason)


# ---------------------------------------------------------------------------------------------- registry
_REGISTRY: dict[str, type[Estimator]] = {}
_PLUGINS_LOADED = False
#: Entry points of the ``pgjax.estimators`` group that failed to load: name -> one-line reason.
BROKEN: dict[str, str] = {}


def register(cls: type[Estimator]) -> type[Estimator]:
    """Class decorator: adds ``cls`` to the registry under ``cls.name`` (a second class with a name already
    taken is refused with a ValueError; registering the same class again is harmless)."""
    if not (isinstance(cls, type) and issubclass(cls, Estimator)):
        raise TypeError(f"{cls!r} is not a subclass of pgjax.estimators.base.Estimator")
    known = _REGISTRY.get(cls.name)
    if known is not None and known is not cls:
        raise ValueError(f"estimator name {cls.name!r} is taken by {known.__module__}.{known.__qualname__}")
    _REGISTRY[cls.name] = cls
    return cls


def builtin() -> dict[str, type[Estimator]]:
    """name -> class of the estimators registered so far (pgjax's own, once :mod:`pgjax.estimators` is imported;
    plugins only after :func:`registry` has loaded them), in registration order."""
    # Importing this module ran pgjax/estimators/__init__.py first, which registers pgjax's own estimators.
    return dict(_REGISTRY)


def registry() -> dict[str, type[Estimator]]:
    """Every estimator class by name: pgjax's own, then those of the ``pgjax.estimators`` entry points (loaded
    once; a broken plugin is recorded in :data:`BROKEN` and skipped, so it cannot take the others down)."""
    global _PLUGINS_LOADED
    builtin()
    if not _PLUGINS_LOADED:
        _PLUGINS_LOADED = True
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            try:
                loaded = ep.load() if ":" in ep.value else importlib.import_module(ep.value)
                if isinstance(loaded, type):
                    register(loaded)
            except Exception as err:
                BROKEN[ep.name] = f"{type(err).__name__}: {err}".splitlines()[0]
    return dict(_REGISTRY)


def reload_plugins() -> None:
    """Forgets which plugins were loaded, so that the next :func:`registry` reads the entry points again
    (after a package was put on the path at run time, as the tests do)."""
    global _PLUGINS_LOADED
    _PLUGINS_LOADED = False


def estimator_class(name: str) -> type[Estimator]:
    """The class registered as ``name``; ConfigError naming ``estimators`` if there is none."""
    known = registry()
    if name not in known:
        raise ConfigError("estimators", f"unknown estimator {name!r}; choose from {', '.join(known)}")
    return known[name]


def make(name: str, options: EstimatorOptions = EstimatorOptions(), problem: Problem | None = None) -> Estimator:
    """The estimator registered as ``name``, built from ``options``; with ``problem``, ConfigError (naming
    ``estimators``, with the reason) if it cannot run on that problem."""
    cls = estimator_class(name)
    if problem is not None:
        reason = unavailable(cls, problem)
        if reason is not None:
            raise ConfigError("estimators", reason)
    return cls.from_options(options)


def build(
    names: Iterable[str], problem: Problem | None, options: EstimatorOptions = EstimatorOptions()
) -> dict[str, Estimator]:
    """name -> estimator for ``names`` (any registered estimator), built from ``options``; ConfigError naming
    ``estimators`` for an unknown name or for one that cannot run on ``problem`` (with the reason)."""
    return {name: make(name, options, problem) for name in names}


def available_on(problem: Any, names: Iterable[str] | None = None) -> dict[str, type[Estimator]]:
    """name -> class of the registered estimators (or of ``names``) that can run on ``problem``."""
    known = registry()
    names = known if names is None else names
    return {name: known[name] for name in names if name in known and unavailable(known[name], problem) is None}


def with_requirements(*capabilities: type) -> dict[str, type[Estimator]]:
    """name -> class of the registered pgjax estimators that require every capability in ``capabilities``."""
    return {n: c for n, c in builtin().items() if all(cap in c.requires for cap in capabilities)}


# ------------------------------------------------------------------------------------ fused compilation
@dataclasses.dataclass(frozen=True)
class Fused(Estimator):
    """Several estimators as ONE estimator whose output is the tuple of their gradients.

    Every member is called with the same key, exactly as :func:`pgjax.engine.run_sweep` calls separate
    estimators, so each member's per-seed estimates are those of a separate run (common random numbers
    included; up to the last float32 bits where XLA compiles a member differently inside the larger module);
    but the sweep compiles one program instead of one per estimator, which on a CPU is most of
    an experiment's time. The engine builds it for ``run_sweep(..., fuse=True)`` and splits the sweep back by name.
    Available on a problem when every member is (:func:`unavailable`).
    """

    estimators: tuple[Any, ...]
    name: ClassVar[str] = "fused"
    params_shaped: ClassVar[bool] = False

    def members(self) -> tuple[Any, ...]:
        return tuple(self.estimators)

    def __call__(self, key: jax.Array, params: Params, problem: Problem, n: int) -> tuple[Params, ...]:
        return tuple(estimator(key, params, problem, n) for estimator in self.estimators)


__all__ = [
    "BROKEN",
    "ENTRY_POINT_GROUP",
    "Estimator",
    "EstimatorOptions",
    "Fused",
    "available_on",
    "build",
    "builtin",
    "check_available",
    "estimator_class",
    "exact_moments",
    "has_exact_moments",
    "make",
    "register",
    "registry",
    "reload_plugins",
    "estimate",
    "sub_batch_sizes",
    "sub_batches",
    "sum_over_sub_batches",
    "unavailable",
    "with_requirements",
]
