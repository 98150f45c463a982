"""Group baselines of RL from verifiable rewards, with their exact means and variances by enumeration.

On a problem with prompt groups (:class:`~pgjax.problems.base.PromptGroups`: one sample answers each of P
prompts), an estimate with n = G samples is a group of G answers per prompt, and every estimator here is

    g = (1/(P G)) sum_q sum_i A_qi psi_qi,        psi_qi = grad log pi_q(answer_qi),

with an advantage A_qi computed from the rewards (the group baseline). They differ only in A (r_i: the
rewards of one prompt's group, rbar their mean):

- ``group_mean``: A_i = r_i - rbar, the batch-mean baseline. E[g] = (1 - 1/G) grad J exactly: rbar holds
  r_i itself, and E[r_i psi_i] / G is what it takes away (:class:`pgjax.estimators.BatchMeanBaseline`).
- ``dr_grpo``: Dr. GRPO (Liu et al. 2025, "Understanding R1-Zero-Like Training: A Critical Perspective"):
  A_i = r_i - rbar without GRPO's division by the group's std, and each answer's token losses summed and
  divided by a constant (the generation budget) instead of the answer's length |o_i|. Here an answer is one
  action (one token), so that constant is 1 and Dr. GRPO IS the batch-mean baseline (the same numbers: the
  tests check it); it is registered separately so that a multi-token problem can give the two their own
  length conventions.
- ``group_rloo``: RLOO (Kool, van Hoof & Welling 2019; Ahmadian et al. 2024), baseline the mean of the
  OTHER G - 1 rewards: A_i = G/(G - 1) (r_i - rbar). Unbiased: the batch mean with its (1 - 1/G) shrink
  undone.
- ``grpo``: GRPO (Shao et al. 2024, "DeepSeekMath"): A_i = (r_i - rbar) / (s + eps), s the group's standard
  deviation with Bessel's correction (divisor G - 1, ``torch.std``'s default, as TRL's GRPOTrainer and verl
  compute it) and eps = 1e-4 added to s (TRL's constant; verl uses 1e-6: the field ``eps``). BIASED: its mean
  is c(G, p) grad p with c ~ 1 / sqrt(p (1 - p)), which reweights prompts by their difficulty.
- ``group_shrinkage``: a James-Stein-style baseline, b_i = (1 - lam) loo_i + lam m_{-q}: the leave-one-out mean
  loo_i of the group shrunk towards m_{-q}, the mean reward of the OTHER prompts' groups in the batch. Both
  are independent of answer i, so it is unbiased. lam is the oracle James-Stein weight, the one that minimises
  the mean squared error of b_i as an estimate of p_q, from the exact success probabilities:
  lam = v / (v + Var m_{-q} + (E m_{-q} - p_q)^2), v = p_q (1 - p_q) / (G - 1) the variance of loo_i
  (an empirical-Bayes version would estimate these from the batch, and lose the exactness below).
- ``group_optimal``: the exact variance-minimising constant baseline per coordinate c (Greensmith, Bartlett &
  Baxter 2004), b*_c = E[r psi_c^2] / E[psi_c^2] from the problem's exact success moments. Unbiased. For the
  Bernoulli model (K = 2) b* = 1 - p, not p.

When every answer of a group has the same reward (all right or all wrong, probability p^G + (1 - p)^G), the
batch-mean, Dr. GRPO, RLOO and GRPO advantages are all 0: the group gives no signal. The shrinkage and the
optimal baselines still move the policy there (A = 1 - b or -b).

Exact moments (:func:`exact_group_moments`). Given a group's rewards, the scores of its answers are independent
with the conditional moments of :class:`~pgjax.problems.base.SuccessMoments`: E[psi_c | r] = (r - p) d_c and
Var[psi_c | r] = within_r,c. Every A here depends on the rewards only through the answer's own reward and the
number of successes k in the group (and, for the shrinkage baseline, affinely on m_{-q}), so with the rewards
sorted (k ones, then G - k zeros)

    E[g_c]   = 1/(P G)   sum_k B(k) E_m[S_k] d_c,                     S_k = sum_i A_i (r_i - p),
    E[g_c^2] = 1/(P G)^2 sum_k B(k) E_m[S_k^2 d_c^2 + sum_{i: r_i = 1} A_i^2 within1_c + sum_{i: r_i = 0} A_i^2 within0_c],

B(k) the Binomial(G, p) probabilities and E_m the expectation over m_{-q} (independent of prompt q's group; a
quadratic in m needs only its mean and variance, exact from the other prompts' p). The advantages are the
estimators' own :meth:`GroupBaseline.advantages`, evaluated on the G + 1 sorted reward vectors: O(G^2) per
coordinate, exact to float64 rounding for any G (G = 64 is 65 vectors of 64).

The Bernoulli-vector problem and the without-replacement estimators of Kool et al. are other extensions of this
module: a problem keeps :class:`~pgjax.problems.base.PromptGroups` to run these estimators, and a new group
estimator is a :class:`GroupBaseline` with its own :meth:`~GroupBaseline.advantages` (its exact moments follow
when the advantage depends on the rewards as above).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from scipy.special import gammaln

from pgjax.errors import ConfigError
from pgjax.estimators.base import Estimator, register
from pgjax.problems.base import ExactSuccessMoments, Params, Problem, PromptGroups, SuccessMoments


class GroupInfo(NamedTuple):
    """What an advantage may use besides the group's rewards; each field broadcasts against the rewards'
    leading axes (one value per group, or per coordinate in :func:`exact_group_moments`).

    ``optimal``: the exact variance-minimising constant baseline b*; ``shrink_weight``: lam of the shrinkage
    baseline; ``other_mean``: m_{-q}, the mean reward of the other prompts' groups (a sampled quantity; every
    advantage is affine in it)."""

    optimal: Any = 0.0
    shrink_weight: Any = 0.0
    other_mean: Any = 0.0


def _check_group(name: str, n: int) -> None:
    if n < 2:
        raise ConfigError("ns", f"{name} needs a group of G >= 2 answers per prompt (got n = {n})")


class GroupBaseline(Estimator):
    """The contract of a group baseline: :meth:`advantages` maps a group's rewards to its advantages, and
    ``__call__`` forms g = (1/(P G)) sum_q sum_i A_qi psi_qi from one group of G = n answers per prompt."""

    requires: ClassVar[tuple[type, ...]] = (PromptGroups,)

    def advantages(self, rewards: jax.Array, info: GroupInfo, xp: Any = jnp) -> jax.Array:
        """A (..., G) from the rewards (..., G) of groups of G answers (the leading axes index groups), with the
        array module ``xp`` (jax.numpy when sampling; numpy in :func:`exact_group_moments`, which then compiles
        nothing for each new G)."""
        raise NotImplementedError

    def group_info(self, problem: Problem, params: Params, n: int, rewards: jax.Array) -> GroupInfo:
        """The :class:`GroupInfo` of each prompt's group, fields of shape (P,); rewards (n, P)."""
        return GroupInfo()

    def __call__(self, key: jax.Array, params: Params, problem: Problem, n: int) -> Params:
        _check_group(self.name, n)
        noise = problem.sample_noise(key, n)
        outcome = jax.lax.stop_gradient(problem.sample(params, noise))
        rewards = problem.prompt_rewards(outcome)  # (n, P)
        info = jax.tree.map(lambda x: jnp.asarray(x)[..., None], self.group_info(problem, params, n, rewards))
        weights = jax.lax.stop_gradient(self.advantages(rewards.T, info).T)  # (n, P)
        return jax.grad(lambda p: jnp.mean(weights * problem.prompt_log_probs(p, outcome)))(params)

    # ------------------------------------------------------------------------------------ exact values
    def exact_info(self, problem: Problem, params: Params, G: int, mom: SuccessMoments) -> GroupInfo:
        """The :class:`GroupInfo` per coordinate (fields (C,)) for :func:`exact_group_moments`; ``other_mean``
        is left 0 (it is random; its moments come from :func:`other_mean_moments`)."""
        return GroupInfo()


def group_mean_advantage(rewards: jax.Array) -> jax.Array:
    """r_i - rbar over the last axis (any array module)."""
    return rewards - rewards.mean(axis=-1, keepdims=True)


@register
@dataclasses.dataclass(frozen=True)
class GroupMean(GroupBaseline):
    """Batch-mean group baseline: A_i = r_i - rbar. Biased: E[g] = (1 - 1/G) grad J (module docstring)."""

    name: ClassVar[str] = "group_mean"
    unbiased: ClassVar[bool] = False

    def advantages(self, rewards: jax.Array, info: GroupInfo, xp: Any = jnp) -> jax.Array:
        return group_mean_advantage(rewards)


@register
@dataclasses.dataclass(frozen=True)
class DrGRPO(GroupMean):
    """Dr. GRPO (Liu et al. 2025): A_i = r_i - rbar, no std normalisation, token losses divided by a constant
    instead of the answer length; with one-action answers the batch-mean baseline exactly (module docstring)."""

    name: ClassVar[str] = "dr_grpo"


@register
@dataclasses.dataclass(frozen=True)
class GroupRLOO(GroupBaseline):
    """RLOO (Kool, van Hoof & Welling 2019): A_i = r_i - (1/(G-1)) sum_{j != i} r_j = G/(G-1) (r_i - rbar).
    Unbiased."""

    name: ClassVar[str] = "group_rloo"

    def advantages(self, rewards: jax.Array, info: GroupInfo, xp: Any = jnp) -> jax.Array:
        g = rewards.shape[-1]
        return group_mean_advantage(rewards) * (g / (g - 1))


@register
@dataclasses.dataclass(frozen=True)
class GRPO(GroupBaseline):
    """GRPO (Shao et al. 2024): A_i = (r_i - rbar) / (s + eps), s = sqrt(sum_j (r_j - rbar)^2 / (G - ddof)).

    Defaults: ddof = 1 (Bessel, ``torch.std``) and eps = 1e-4 added to s, as TRL's GRPOTrainer. A group whose
    rewards are all equal has s = 0 and A = 0 / eps = 0. Biased (module docstring)."""

    eps: float = 1e-4
    ddof: int = 1
    name: ClassVar[str] = "grpo"
    unbiased: ClassVar[bool] = False

    def advantages(self, rewards: jax.Array, info: GroupInfo, xp: Any = jnp) -> jax.Array:
        centred = group_mean_advantage(rewards)
        std = xp.sqrt((centred**2).sum(axis=-1, keepdims=True) / (rewards.shape[-1] - self.ddof))
        safe = xp.where(std > 0, std, 1.0) + self.eps
        return xp.where(std > 0, centred / safe, 0.0)  # all rewards equal: A = 0, even with eps = 0


def other_mean_moments(success: jax.Array, G: int) -> tuple[jax.Array, jax.Array]:
    """(E m_{-q}, Var m_{-q}) per prompt, shape (P,): m_{-q} the mean of the (P - 1) G rewards of the other
    prompts' groups, E = mean_{q' != q} p_q', Var = sum_{q' != q} p_q' (1 - p_q') / ((P - 1)^2 G)."""
    P = success.shape[0]
    total = success.sum()
    spread = (success * (1.0 - success)).sum()
    mean = (total - success) / (P - 1)
    var = (spread - success * (1.0 - success)) / ((P - 1) ** 2 * G)
    return mean, var


def shrink_weight(success: jax.Array, G: int) -> jax.Array:
    """The oracle James-Stein weight per prompt, lam = v / (v + Var m + (E m - p)^2), v = p (1 - p) / (G - 1)."""
    mean, var = other_mean_moments(success, G)
    v = success * (1.0 - success) / (G - 1)
    return v / (v + var + (mean - success) ** 2)


def _needs_two_prompts(name: str, problem: Problem) -> None:
    if problem.num_prompts < 2:
        raise ConfigError("estimators", f"{name} shrinks towards the other prompts' mean: it needs >= 2 prompts")


@register
@dataclasses.dataclass(frozen=True)
class GroupShrinkage(GroupBaseline):
    """James-Stein-style shrinkage baseline: b_i = (1 - lam) loo_i + lam m_{-q} (module docstring), lam the
    oracle weight of :func:`shrink_weight`. Unbiased (b_i does not depend on answer i)."""

    name: ClassVar[str] = "group_shrinkage"
    requires: ClassVar[tuple[type, ...]] = (PromptGroups, ExactSuccessMoments)

    def advantages(self, rewards: jax.Array, info: GroupInfo, xp: Any = jnp) -> jax.Array:
        g = rewards.shape[-1]
        loo = (rewards.sum(axis=-1, keepdims=True) - rewards) / (g - 1)
        lam = info.shrink_weight
        return rewards - (1.0 - lam) * loo - lam * info.other_mean

    def group_info(self, problem: Problem, params: Params, n: int, rewards: jax.Array) -> GroupInfo:
        _needs_two_prompts(self.name, problem)
        P = problem.num_prompts
        per_prompt = jnp.sum(rewards, axis=0)
        other = (jnp.sum(per_prompt) - per_prompt) / ((P - 1) * n)
        lam = jax.lax.stop_gradient(shrink_weight(problem.success_moments(params).success, n))
        return GroupInfo(shrink_weight=lam, other_mean=other)

    def exact_info(self, problem: Problem, params: Params, G: int, mom: SuccessMoments) -> GroupInfo:
        _needs_two_prompts(self.name, problem)
        return GroupInfo(shrink_weight=shrink_weight(mom.success, G)[mom.prompt])


def optimal_constant_baseline(mom: SuccessMoments) -> jax.Array:
    """b*_c = E[r psi_c^2] / E[psi_c^2] = p s1_c / (p s1_c + (1 - p) s0_c), s_r,c = E[psi_c^2 | r] = within_r,c
    + ((r - p) d_c)^2, per coordinate (C,) (0 where psi_c is always 0)."""
    p = mom.success[mom.prompt]
    s1 = mom.within1 + ((1.0 - p) * mom.direction) ** 2
    s0 = mom.within0 + (p * mom.direction) ** 2
    den = p * s1 + (1.0 - p) * s0
    xp = np if isinstance(den, np.ndarray) else jnp  # numpy in the exact moments, jax when sampling
    return xp.where(den > 0, p * s1 / xp.where(den > 0, den, 1.0), 0.0)


@register
@dataclasses.dataclass(frozen=True)
class GroupOptimal(GroupBaseline):
    """The exact variance-minimising constant baseline, per coordinate (Greensmith, Bartlett & Baxter 2004):
    A_ic = r_i - b*_c, b*_c of :func:`optimal_constant_baseline`. Unbiased; b* = 1 - p for K = 2."""

    name: ClassVar[str] = "group_optimal"
    requires: ClassVar[tuple[type, ...]] = (PromptGroups, ExactSuccessMoments)

    def advantages(self, rewards: jax.Array, info: GroupInfo, xp: Any = jnp) -> jax.Array:
        return rewards - info.optimal

    def __call__(self, key: jax.Array, params: Params, problem: Problem, n: int) -> Params:
        """(1/(P G)) sum (r - b*_c) psi_c = mean(r psi_c) - b*_c mean(psi_c): one vjp of the two surrogates."""
        _check_group(self.name, n)
        noise = problem.sample_noise(key, n)
        outcome = jax.lax.stop_gradient(problem.sample(params, noise))
        rewards = problem.prompt_rewards(outcome)
        _, vjp = jax.vjp(lambda p: problem.prompt_log_probs(p, outcome), params)
        scale = 1.0 / rewards.size
        (with_r,) = vjp(jax.lax.stop_gradient(rewards * scale))
        (plain,) = vjp(jnp.full_like(rewards, scale))
        flat_r, unravel = ravel_pytree(with_r)
        b = jax.lax.stop_gradient(optimal_constant_baseline(problem.success_moments(params)))
        return unravel(flat_r - b.astype(flat_r.dtype) * ravel_pytree(plain)[0])

    def exact_info(self, problem: Problem, params: Params, G: int, mom: SuccessMoments) -> GroupInfo:
        return GroupInfo(optimal=optimal_constant_baseline(mom))


# ------------------------------------------------------------------------------------------ exact moments
def sorted_groups(G: int) -> np.ndarray:
    """The G + 1 sorted reward vectors of a group, (G + 1, G) float64: row k has k ones, then G - k zeros."""
    return (np.arange(G)[None, :] < np.arange(G + 1)[:, None]).astype(np.float64)


def binomial_pmf(G: int, p: np.ndarray) -> np.ndarray:
    """P(k successes of G), k = 0..G, for each p in (0, 1): shape (..., G + 1), float64."""
    k = np.arange(G + 1, dtype=np.float64)
    p = np.asarray(p, np.float64)[..., None]
    log = gammaln(G + 1.0) - gammaln(k + 1.0) - gammaln(G - k + 1.0) + k * np.log(p) + (G - k) * np.log1p(-p)
    return np.exp(log)


def success_reduction(problem: Problem, params: Params) -> tuple[SuccessMoments, np.ndarray]:
    """The problem's :class:`~pgjax.problems.base.SuccessMoments` and exact flat gradient grad J (C,), as
    float64 numpy arrays; ValueError for a problem without exact success moments."""
    if not isinstance(problem, ExactSuccessMoments):
        raise ValueError(f"{type(problem).__name__} has no exact success moments (success_moments)")
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), params)
        mom, grad = jax.device_get(_reduction(problem, p64))
    return jax.tree.map(np.asarray, mom), np.asarray(grad, np.float64)


@functools.partial(jax.jit, static_argnums=0)
def _reduction(problem: Problem, params: Params) -> tuple[SuccessMoments, jax.Array]:
    """One compiled program per problem (and params shape) instead of many small eager ones."""
    return problem.success_moments(params), ravel_pytree(jax.grad(problem.objective)(params))[0]


def exact_group_moments(
    estimator: GroupBaseline,
    problem: Problem,
    params: Params,
    G: int,
    reduction: tuple[SuccessMoments, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Exact mean, variance and second moment of the G-answers-per-prompt estimate of ``estimator``, per
    coordinate, by enumerating the number of successes of each group (module docstring), in float64 numpy
    (the estimator's own :meth:`~GroupBaseline.advantages` with ``xp=numpy``: nothing is compiled).

    ``reduction``: :func:`success_reduction` of (problem, params), when the caller has it already.
    Returns a dict of flat (C,) float64 arrays (``ravel_pytree`` order of params): ``mean``, ``var``,
    ``second``, ``bias`` (mean - grad J), ``grad`` (the exact grad J), and per coordinate ``success`` (its
    prompt's p) and ``degenerate`` (p^G + (1 - p)^G, the probability that its group's rewards are all equal).
    ConfigError (naming ``ns``) for G < 2; ValueError for a problem without exact success moments."""
    _check_group(estimator.name, G)
    mom, grad = success_reduction(problem, params) if reduction is None else reduction
    P = int(mom.success.shape[0])
    p = mom.success[mom.prompt]  # (C,)
    if P > 1:
        mu, var_m = (np.asarray(x)[mom.prompt] for x in other_mean_moments(mom.success, G))
    else:
        mu, var_m = np.zeros_like(p), np.zeros_like(p)
    info = estimator.exact_info(problem, params, G, mom)
    info = GroupInfo(*(np.broadcast_to(np.asarray(x, np.float64), p.shape)[:, None, None] for x in info))
    rewards = sorted_groups(G)[None]  # (1, G + 1, G)
    alpha = estimator.advantages(rewards, info._replace(other_mean=np.zeros_like(info.other_mean)), xp=np)
    beta = estimator.advantages(rewards, info._replace(other_mean=np.ones_like(info.other_mean)), xp=np) - alpha
    alpha, beta = (np.broadcast_to(x, (p.shape[0], G + 1, G)) for x in (alpha, beta))
    centred = rewards - p[:, None, None]
    s_a, s_b = (alpha * centred).sum(-1), (beta * centred).sum(-1)  # (C, G + 1)
    m1, m2 = mu[:, None], (mu**2 + var_m)[:, None]
    mean_s = s_a + m1 * s_b
    mean_s2 = s_a**2 + 2 * m1 * s_a * s_b + m2 * s_b**2
    squared = alpha**2 + 2 * m1[..., None] * alpha * beta + m2[..., None] * beta**2  # E_m[A^2], (C, G + 1, G)
    weights = binomial_pmf(G, p)  # (C, G + 1)
    scale = 1.0 / (P * G)
    mean = scale * (weights * mean_s).sum(-1) * mom.direction
    second = scale**2 * (
        weights
        * (
            mean_s2 * mom.direction[:, None] ** 2
            + (rewards * squared).sum(-1) * mom.within1[:, None]
            + ((1.0 - rewards) * squared).sum(-1) * mom.within0[:, None]
        )
    ).sum(-1)
    return {
        "mean": mean,
        "second": second,
        "var": np.maximum(second - mean**2, 0.0),
        "bias": mean - grad,
        "grad": grad,
        "success": p,
        "degenerate": weights[:, 0] + weights[:, -1],
    }


#: The group baselines by name, in registration order.
GROUP_ESTIMATORS: dict[str, type[GroupBaseline]] = {
    cls.name: cls for cls in (GroupMean, DrGRPO, GroupRLOO, GRPO, GroupShrinkage, GroupOptimal)
}
