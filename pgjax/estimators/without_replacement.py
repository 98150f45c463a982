"""Estimators for discrete outcomes that sample WITHOUT replacement: the unordered set estimator and
sum-and-sample, with and without baselines.

They run on problems with finitely many enumerable outcomes (:class:`pgjax.problems.base.FiniteOutcomes`: the
softmax bandit's K arms, the 2^d Bernoulli vectors), N of them, with probabilities p and rewards f. The n
samples are n DISTINCT outcomes, so the n-sample estimate is not a mean of n i.i.d. terms: ``iid`` is False and
each estimator gives the exact variance of its n-sample estimate by enumeration (:meth:`n_sample_variance`).

Sampling without replacement is the Gumbel-top-k trick (Vieira 2014; Kool, van Hoof & Welling 2019,
"Stochastic Beams and Where to Find Them"): with g_j ~ Gumbel(0, 1) i.i.d., the indices of the k largest
log p_j + g_j, in decreasing order, are an ordered sample without replacement: the Plackett-Luce law

    P(s_1, ..., s_k) = prod_i p(s_i) / (1 - sum_{j < i} p(s_j)).

The Gumbel noise is drawn from the estimator's key (``jax.random.gumbel(key, (N,))``), not through
``problem.sample_noise``, whose noise draws i.i.d. samples: these estimators do not share their samples with the
i.i.d. ones called with the same key (they do share them with each other: every estimator here that draws a
Gumbel-top-k set from a key draws the same set).

Estimators (Kool, van Hoof & Welling 2020, "Estimating Gradients for Discrete Random Variables by Sampling
without Replacement", ICLR; psi(s) = grad log p(s)):

- ``unordered_set``: the unordered set estimator (their eq. 9, Theorem 1), for the unordered set S of the k
  samples,

      e^US(S) = sum_{s in S} p(s) R(S, s) f(s) psi(s),    R(S, s) = P^{D \\ s}(S \\ {s}) / P(S),

  where P(S) is the probability of drawing the set S in any order and P^{D \\ s} that of drawing S \\ {s} from
  the domain without s. p(s) R(S, s) is the probability that s came first, given S. At k = 1 it is REINFORCE.
- ``unordered_set_baseline``: with its built-in baseline (their Theorem 2), for k >= 2,

      e^USBL(S) = sum_{s in S} p(s) R(S, s) psi(s) [f(s) - sum_{s' in S} p(s') R^{D \\ s}(S, s') f(s')],

  R^{D \\ s}(S, s') = P^{D \\ {s, s'}}(S \\ {s, s'}) / P^{D \\ s}(S \\ {s}) for s' != s and 1 for s' = s (the
  weights of the baseline of s sum to one). At k = 1 there is no baseline (REINFORCE), as in their code.
- ``sum_and_sample``: deterministic sum-and-sample (Liu et al. 2019, "Rao-Blackwellized Stochastic Gradients for
  Discrete Distributions"; Kool et al. 2020, eq. 5): C the k - 1 most probable outcomes, summed exactly, and one
  sample x from p restricted to the rest,

      e^SAS = sum_{c in C} p(c) f(c) psi(c) + (1 - p(C)) f(x) psi(x).

- ``sum_and_sample_stochastic``: the same with C the first k - 1 samples of a Gumbel-top-k draw and x the k-th
  (which, given C, is a sample from p restricted to the rest; Kool et al. 2020, Section 2.3).
- ``sum_and_sample_baseline``, ``sum_and_sample_stochastic_baseline``: each of the k terms with its own baseline
  f(y_j) of an independent sample y_j ~ p (REINFORCE+ of Liu et al. 2019, "sample bl" in Kool et al.'s code):
  (f(c) - f(y_c)) instead of f(c); 2k evaluations of f.

REINFORCE with k samples drawn with replacement, and with the leave-one-out baseline (Kool, van Hoof & Welling
2019, "Buy 4 REINFORCE Samples, Get a Baseline for Free!"; "VIMCO" in the 2020 paper's figure) are the registered
``reinforce`` and ``leave_one_out``, which run on these problems unchanged.

P(S) and every leave-one-out and leave-two-out probability come from ONE table over the 2^k subsets V of S:
with m = p(D \\ S) the mass outside S, the probability of drawing exactly V (any order) from the domain
V + (D \\ S) is

    G(empty) = 1,    G(V) = sum_{t in V} p(t) G(V \\ {t}) / (m + p(V)),

so P(S) = G(S), P^{D \\ s}(S \\ {s}) = G(S \\ {s}) and P^{D \\ {s,s'}}(S \\ {s, s'}) = G(S \\ {s, s'}): O(2^k k)
instead of the k! orderings, in log space, and every denominator is a sum of probabilities (no 1 - sum, which
loses all digits when S holds nearly all the mass).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special
from jax.flatten_util import ravel_pytree

from pgjax.errors import ConfigError
from pgjax.estimators.base import Estimator, register
from pgjax.problems import finite
from pgjax.problems.base import FiniteOutcomes, Params, Problem

#: Most ordered k-tuples the exact enumeration visits (N! / (N - k)!; 40320 for N = k = 8).
MAX_TUPLES = 2_000_000


# ------------------------------------------------------------------------------------------------ helpers
# The weights are written once for numpy and jax.numpy alike (``xp``), batched over leading axes: the estimators
# call them with jax on one draw, the exact moments with numpy (float64) on every draw at once, so that the exact
# variances need no compilation.


def _logsumexp(x: Any, axis: int, xp: Any) -> Any:
    return scipy.special.logsumexp(x, axis=axis) if xp is np else jax.nn.logsumexp(x, axis=axis)


def gumbel_top_k(key: jax.Array, log_p: jax.Array, k: int) -> jax.Array:
    """Indices (k,) of an ordered sample without replacement from softmax(log_p): the k largest log_p + g,
    g ~ Gumbel(0, 1) i.i.d. (shape (N,)), in decreasing order."""
    g = jax.random.gumbel(key, log_p.shape, log_p.dtype)
    return jax.lax.top_k(log_p + g, k)[1]


@functools.lru_cache(maxsize=16)
def _subset_tables(k: int) -> tuple[np.ndarray, np.ndarray]:
    """(bits (2^k, k): element t in subset mask, prev (2^k, k): mask without element t)."""
    masks = np.arange(2**k)
    bits = ((masks[:, None] >> np.arange(k)[None, :]) & 1).astype(bool)
    prev = masks[:, None] ^ (1 << np.arange(k))[None, :]
    return bits, prev


def log_subset_probabilities(log_p_set: Any, log_rest: Any, xp: Any = jnp) -> Any:
    """log G(V) for every subset V of a set of k outcomes, shape (..., 2^k) (index: the bit mask of V, bit t =
    element t).

    ``log_p_set`` (..., k): log-probabilities of the set's outcomes; ``log_rest`` (...): log of the mass outside
    the set (-inf when the set is the whole domain). G(V) is the probability of drawing V, in any order, without
    replacement from the domain V + rest: G(empty) = 1, G(V) = sum_{t in V} p_t G(V - t) / (rest + p(V))."""
    k = log_p_set.shape[-1]
    bits, prev = _subset_tables(k)
    empty = np.arange(2**k) == 0
    lp = log_p_set[..., None, :]  # (..., 1, k)
    member = xp.where(bits, lp, -np.inf)  # (..., 2^k, k)
    log_den = xp.where(empty, 0.0, xp.logaddexp(log_rest[..., None], _logsumexp(member, -1, xp)))
    log_g = xp.where(empty, 0.0, -np.inf) + xp.zeros(log_p_set.shape[:-1] + (1,), log_p_set.dtype)  # (..., 2^k)
    for _ in range(k):  # after step l every subset of size <= l is final
        terms = xp.where(bits, lp + log_g[..., prev], -np.inf)
        log_g = xp.where(empty, 0.0, _logsumexp(terms, -1, xp) - log_den)
    return log_g


def _log_mass_outside(log_p: Any, idx: Any, xp: Any = jnp) -> Any:
    """log p(D minus the outcomes idx (..., m)), shape (...): a log-sum over the outcomes outside (no
    cancellation)."""
    inside = (idx[..., :, None] == np.arange(log_p.shape[-1])).any(axis=-2)
    return _logsumexp(xp.where(inside, -np.inf, log_p), -1, xp)


def _set_tables(log_p: Any, idx: Any, xp: Any) -> tuple[Any, int, np.ndarray]:
    k = idx.shape[-1]
    log_g = log_subset_probabilities(log_p[idx], _log_mass_outside(log_p, idx, xp), xp)
    full = 2**k - 1
    return log_g, full, full ^ (1 << np.arange(k))


def unordered_set_weights(log_p: Any, idx: Any, xp: Any = jnp) -> Any:
    """p(s) R(S, s) = p(s) G(S - {s}) / G(S) for each s of the set S = idx (..., k): the probability that s was
    drawn first, given S."""
    log_g, full, without = _set_tables(log_p, idx, xp)
    return xp.exp(log_p[idx] + log_g[..., without] - log_g[..., full, None])


def unordered_set_baseline_matrix(log_p: Any, idx: Any, xp: Any = jnp) -> Any:
    """W (..., k, k): row s holds the weights p(s') R^{D minus s}(S, s') of the built-in baseline of s (k >= 2):
    W[s, s] = p(s), W[s, s'] = p(s') G(S - {s, s'}) / G(S - {s}); every row sums to one."""
    k = idx.shape[-1]
    log_g, _, without_s = _set_tables(log_p, idx, xp)
    without_pair = without_s[:, None] ^ (1 << np.arange(k))[None, :]  # (k, k); the diagonal is S - {s} again
    log_ratio = log_g[..., without_pair] - log_g[..., without_s][..., :, None]
    return xp.exp(log_p[idx][..., None, :] + xp.where(np.eye(k, dtype=bool), 0.0, log_ratio))


def _sum_and_sample_weights(log_p: Any, idx: Any, xp: Any) -> Any:
    """(p(c_1), ..., p(c_{k-1}), 1 - p(C)) for idx (..., k) = (c_1, ..., c_{k-1}, x)."""
    head = idx[..., :-1]
    rest = xp.exp(_log_mass_outside(log_p, head, xp))
    return xp.concatenate([xp.exp(log_p[head]), rest[..., None]], axis=-1)


def _selected(problem: FiniteOutcomes, idx: jax.Array) -> Any:
    return jax.tree.map(lambda a: a[idx], problem.outcomes())


def _weighted_score_sum(params: Params, problem: FiniteOutcomes, outcome: Any, weights: jax.Array) -> Params:
    """sum_j w_j grad log p(x_j), as the gradient of sum(stop_gradient(w) log p)."""
    weights = jax.lax.stop_gradient(weights)
    return jax.grad(lambda p: jnp.sum(weights * problem.log_prob(p, outcome)))(params)


# -------------------------------------------------------------------------------- exact enumeration
def _check_count(count: int, what: str) -> None:
    if count > MAX_TUPLES:
        raise ConfigError("ns", f"exact enumeration over {count} {what} exceeds {MAX_TUPLES}")


def ordered_tuples(num: int, k: int) -> np.ndarray:
    """Every ordered k-tuple of distinct indices in 0..num-1, shape (num! / (num - k)!, k)."""
    count = math.perm(num, k)
    _check_count(count, f"ordered {k}-tuples of {num} outcomes")
    return np.asarray(list(itertools.permutations(range(num), k)), dtype=np.int64).reshape(count, k)


def subsets(num: int, k: int) -> np.ndarray:
    """Every k-subset of 0..num-1 (increasing indices), shape (C(num, k), k)."""
    count = math.comb(num, k)
    _check_count(count, f"{k}-subsets of {num} outcomes")
    return np.asarray(list(itertools.combinations(range(num), k)), dtype=np.int64).reshape(count, k)


def plackett_luce_log_prob(log_p: np.ndarray, tuples: np.ndarray) -> np.ndarray:
    """log P(s_1, ..., s_k) = sum_i [log p(s_i) - log p(D minus s_1..s_{i-1})] per row of ``tuples`` (T, k)
    (numpy; the remaining mass is a log-sum over the outcomes not drawn yet, no cancellation)."""
    out = np.zeros(tuples.shape[0])
    for i in range(tuples.shape[1]):
        out += log_p[tuples[:, i]] - _log_mass_outside(log_p, tuples[:, :i], np)
    return out


def set_log_prob(log_p: np.ndarray, sets: np.ndarray) -> np.ndarray:
    """log P(S), the probability that a Gumbel-top-k draw is the set S in any order, per row of ``sets`` (T, k):
    log G(S) of :func:`log_subset_probabilities` (the sum of :func:`plackett_luce_log_prob` over the k! orders)."""
    return log_subset_probabilities(log_p[sets], _log_mass_outside(log_p, sets, np), np)[:, -1]


@functools.partial(jax.jit, static_argnums=0)
def _enumerated(problem: FiniteOutcomes, params: Params) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(log p (N,), f (N,), scores (N, P)) of every outcome, compiled once per problem."""
    e = finite.enumerate_outcomes(problem, params)
    return e.log_p, e.reward, finite.flat_scores(e)


# ---------------------------------------------------------------------------------------- estimators
class _WithoutReplacement(Estimator):
    """Shared machinery: the draw (an index tuple), the weights given the draw, the gradient, and the exact
    moments of the n-sample estimate by enumerating the draws.

    A subclass gives ``_draw(key, log_p, k)`` (the index tuple, jax), ``_tuples(log_p, k)`` (every draw it can
    make, (T, k), with its log-probability (T,), numpy) and ``_weights(log_p, f, idx, xp)`` (w (..., k): the
    estimate is sum_j w_j psi(idx_j), plus, with ``sample_baseline``, -sum_j a_j f(y_j) psi(idx_j) for
    independent y_j ~ p, where a = ``_weights`` with f = 1)."""

    requires: ClassVar[tuple[type, ...]] = (FiniteOutcomes,)
    iid: ClassVar[bool] = False
    unbiased: ClassVar[bool] = True
    #: Each term gets its own baseline f(y_j), y_j ~ p independent (REINFORCE+).
    sample_baseline: ClassVar[bool] = False

    def _draw(self, key: jax.Array, log_p: jax.Array, k: int) -> jax.Array:
        raise NotImplementedError

    def _tuples(self, log_p: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _weights(self, log_p: Any, f: Any, idx: Any, xp: Any = jnp) -> Any:
        raise NotImplementedError

    @classmethod
    def function_evaluations(cls, dim: int, n: int = 1) -> float | None:
        """2 per sample with a sampled baseline (the sample and its baseline sample), else None (one)."""
        return 2.0 if cls.sample_baseline else None

    def _check_n(self, problem: FiniteOutcomes, n: int) -> None:
        if n > problem.num_outcomes:
            raise ConfigError(
                "ns",
                f"{self.name} draws n distinct outcomes, at most the problem's {problem.num_outcomes} (got n = {n})",
            )

    def __call__(self, key: jax.Array, params: Params, problem: Problem, n: int) -> Params:
        self._check_n(problem, n)
        log_p = jax.lax.stop_gradient(finite.log_probabilities(problem, params))
        idx = self._draw(key, log_p, n)
        outcome = _selected(problem, idx)
        f = problem.reward(outcome)
        weights = self._weights(log_p, f, idx)
        if self.sample_baseline:
            g = jax.random.gumbel(jax.random.fold_in(key, 1), (n,) + log_p.shape, log_p.dtype)
            baseline = problem.reward(_selected(problem, jnp.argmax(log_p[None, :] + g, axis=1)))
            weights = weights - self._weights(log_p, jnp.ones_like(f), idx) * baseline
        return _weighted_score_sum(params, problem, outcome, weights)

    def exact_moments(
        self, problem: FiniteOutcomes, params: Params, n: int, *, ordered: bool = False
    ) -> dict[str, Params]:
        """Exact mean and variance of the n-sample estimate, per coordinate, in float64, by enumerating every
        draw the estimator can make (:data:`MAX_TUPLES` at most) with its probability: ``{"mean": ..., "var":
        ...}`` shaped like params. With a sampled baseline, the law of total variance:
        E[Var(g | draw)] + Var(E[g | draw]), Var(g | draw)_c = Var(f) sum_j a_j^2 psi_c(idx_j)^2.

        The draws are the fewest that determine the estimate (the k-subsets for the unordered set estimator);
        ``ordered=True`` enumerates every ordered Gumbel-top-k tuple with its Plackett-Luce probability instead
        (N! / (N - k)! of them: a slower, independent check). numpy throughout: nothing is compiled."""
        self._check_n(problem, n)
        with jax.enable_x64(True):
            p64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), params)
            log_p, f_all, scores = (np.asarray(a, np.float64) for a in _enumerated(problem, p64))  # (N,), (N,), (N, P)
            _, unravel = ravel_pytree(p64)
        if ordered and isinstance(self, _GumbelTopK):
            tuples = ordered_tuples(log_p.shape[0], n)
            log_prob = plackett_luce_log_prob(log_p, tuples)
        else:
            tuples, log_prob = self._tuples(log_p, n)
        prob = np.exp(log_prob - scipy.special.logsumexp(log_prob))  # sums to one up to rounding: exactly one
        w = self._weights(log_p, f_all[tuples], tuples, np)  # (T, k)
        cond_var = 0.0
        if self.sample_baseline:
            p_all = np.exp(log_p)
            mean_f = np.sum(p_all * f_all)
            a = self._weights(log_p, np.ones(tuples.shape), tuples, np)
            w = w - a * mean_f
            cond_var = np.sum(p_all * (f_all - mean_f) ** 2) * np.einsum("tk,tkp->tp", a**2, scores[tuples] ** 2)
        g = np.einsum("tk,tkp->tp", w, scores[tuples])
        mean = prob @ g
        var = prob @ ((g - mean) ** 2 + cond_var)
        with jax.enable_x64(True):
            return {
                "mean": jax.device_get(unravel(jnp.asarray(mean))),
                "var": jax.device_get(unravel(jnp.asarray(var))),
            }

    def n_sample_variance(self, problem: Problem, params: Params, n: int) -> Params | None:
        """Exact variance of the n-sample estimate by enumeration (:meth:`exact_moments`); None on a problem
        without finitely many outcomes."""
        if not isinstance(problem, FiniteOutcomes):
            return None
        return self.exact_moments(problem, params, n)["var"]


class _GumbelTopK(_WithoutReplacement):
    """Draws an ordered Gumbel-top-k sample (Plackett-Luce law); its estimate depends on the set drawn only, so
    the exact moments enumerate the k-subsets S with their probabilities P(S) (:func:`set_log_prob`)."""

    def _draw(self, key: jax.Array, log_p: jax.Array, k: int) -> jax.Array:
        return gumbel_top_k(key, log_p, k)

    def _tuples(self, log_p: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        sets = subsets(log_p.shape[0], k)
        return sets, set_log_prob(log_p, sets)


@register
@dataclasses.dataclass(frozen=True)
class UnorderedSet(_GumbelTopK):
    """The unordered set estimator (Kool, van Hoof & Welling 2020, Theorem 1):
    e^US(S) = sum_{s in S} p(s) R(S, s) f(s) psi(s), S drawn without replacement (see the module docstring)."""

    name: ClassVar[str] = "unordered_set"

    def _weights(self, log_p: Any, f: Any, idx: Any, xp: Any = jnp) -> Any:
        return unordered_set_weights(log_p, idx, xp) * f


@register
@dataclasses.dataclass(frozen=True)
class UnorderedSetBaseline(_GumbelTopK):
    """The unordered set estimator with its built-in baseline (Kool, van Hoof & Welling 2020, Theorem 2):
    e^USBL(S) = sum_{s in S} p(s) R(S, s) psi(s) (f(s) - sum_{s' in S} p(s') R^{D minus s}(S, s') f(s')), for
    k >= 2; at k = 1, REINFORCE (see the module docstring)."""

    name: ClassVar[str] = "unordered_set_baseline"

    def _weights(self, log_p: Any, f: Any, idx: Any, xp: Any = jnp) -> Any:
        first = unordered_set_weights(log_p, idx, xp)
        if idx.shape[-1] == 1:
            return first * f
        baseline = xp.einsum("...ij,...j->...i", unordered_set_baseline_matrix(log_p, idx, xp), f)
        return first * (f - baseline)


class _SumAndSample(_WithoutReplacement):
    """sum_{c in C} p(c) f(c) psi(c) + (1 - p(C)) f(x) psi(x) for idx = (C, x)."""

    def _weights(self, log_p: Any, f: Any, idx: Any, xp: Any = jnp) -> Any:
        return _sum_and_sample_weights(log_p, idx, xp) * f


@register
@dataclasses.dataclass(frozen=True)
class SumAndSample(_SumAndSample):
    """Deterministic sum-and-sample (Liu et al. 2019; Kool et al. 2020, eq. 5): the k - 1 most probable outcomes
    C summed exactly, one sample x ~ p restricted to the rest (Gumbel-max over the rest):
    sum_{c in C} p(c) f(c) psi(c) + (1 - p(C)) f(x) psi(x). Ties in p (to 1e-5 in log p) go to the lower index."""

    name: ClassVar[str] = "sum_and_sample"

    @staticmethod
    def _top(log_p: Any, k: int, xp: Any = jnp) -> Any:
        """The k - 1 most probable outcomes, by log p rounded to 1e-5 (so that outcomes of equal probability
        whose log p differ by rounding tie in float32 and float64 alike), ties broken by the lower index."""
        order = xp.lexsort((np.arange(log_p.shape[0]), -xp.round(log_p * 1e5)))
        return order[: k - 1]

    def _draw(self, key: jax.Array, log_p: jax.Array, k: int) -> jax.Array:
        top = self._top(log_p, k)
        g = jax.random.gumbel(key, log_p.shape, log_p.dtype)
        masked = jnp.where(jnp.zeros(log_p.shape, bool).at[top].set(True), -jnp.inf, log_p + g)
        return jnp.concatenate([top, jnp.argmax(masked)[None]])

    def _tuples(self, log_p: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """C fixed, x each outcome outside C with probability p(x) / p(D minus C)."""
        top = self._top(log_p, k, np)
        rest = np.setdiff1d(np.arange(log_p.shape[0]), top)
        tuples = np.concatenate([np.broadcast_to(top, (rest.size, k - 1)), rest[:, None]], axis=1)
        return tuples, log_p[rest] - scipy.special.logsumexp(log_p[rest])


@register
@dataclasses.dataclass(frozen=True)
class SumAndSampleStochastic(_SumAndSample, _GumbelTopK):
    """Stochastic sum-and-sample (Kool et al. 2020, Section 2.3): a Gumbel-top-k draw, its first k - 1 outcomes C
    summed, the k-th, x, a sample from p restricted to the rest:
    sum_{c in C} p(c) f(c) psi(c) + (1 - p(C)) f(x) psi(x)."""

    name: ClassVar[str] = "sum_and_sample_stochastic"

    def _tuples(self, log_p: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Every (C, x): C a (k - 1)-subset, with probability G(C) that the first k - 1 draws are C, times
        p(x) / p(D minus C) for each x outside C."""
        num = log_p.shape[0]
        _check_count(math.comb(num, k - 1) * (num - k + 1), f"draws of {k - 1} summed outcomes and one sample")
        heads = subsets(num, k - 1)
        tuples = np.asarray([(*c, x) for c in heads for x in range(num) if x not in c], np.int64).reshape(-1, k)
        head = tuples[:, : k - 1]
        log_rest = _log_mass_outside(log_p, head, np)
        log_g = log_subset_probabilities(log_p[head], log_rest, np)[:, -1]
        return tuples, log_g + log_p[tuples[:, -1]] - log_rest


@register
@dataclasses.dataclass(frozen=True)
class SumAndSampleBaseline(SumAndSample):
    """Deterministic sum-and-sample with a sampled baseline per term (REINFORCE+ of Liu et al. 2019; "sample bl"
    of Kool et al. 2020): f(c) - f(y_c) with y_c ~ p independent, 2k evaluations of f."""

    name: ClassVar[str] = "sum_and_sample_baseline"
    sample_baseline: ClassVar[bool] = True


@register
@dataclasses.dataclass(frozen=True)
class SumAndSampleStochasticBaseline(SumAndSampleStochastic):
    """Stochastic sum-and-sample with a sampled baseline per term (REINFORCE+; "sample bl" of Kool et al. 2020):
    f(c) - f(y_c) with y_c ~ p independent, 2k evaluations of f."""

    name: ClassVar[str] = "sum_and_sample_stochastic_baseline"
    sample_baseline: ClassVar[bool] = True


#: The estimators of this module, by name, in the order of Kool et al. (2020)'s figure legend.
WITHOUT_REPLACEMENT = {
    cls.name: cls
    for cls in (
        SumAndSample,
        SumAndSampleStochastic,
        UnorderedSet,
        SumAndSampleBaseline,
        SumAndSampleStochasticBaseline,
        UnorderedSetBaseline,
    )
}
