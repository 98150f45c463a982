r"""The state / action / trajectory decomposition of the policy-gradient variance (Tucker et al., 2018).

Tucker, Bhupatiraju, Gu, Turner, Ghahramani and Levine (2018), "The Mirage of Action-Dependent Baselines in
Reinforcement Learning", Eq. (4). The single-sample estimate of the gradient in the time-t policy
parameters,

    g_t = psi_t (Rhat_t - b),     psi_t = grad log pi(a_t | s_t),

with Rhat_t an unbiased estimate of Q_t(s_t, a_t) (the Monte Carlo return, or GAE(lambda) with the exact
value function) and a baseline b, has by the law of total variance

    Var(g_t) = Sigma_s + Sigma_a + Sigma_tau,
    Sigma_s   = Var_s( E[g_t | s] ),
    Sigma_a   = E_s[ Var_a( E[g_t | s, a] | s ) ] = E_s[ Var_a( psi (Q(s, a) - b) | s ) ],
    Sigma_tau = E_{s,a}[ Var( g_t | s, a ) ]     = E_{s,a}[ psi psi' Var(Rhat | s, a) ].

The baselines: none (b = 0), the state value (b = V(s)) and the action-dependent b = Q(s, a) with its
correction, g = psi (Rhat - Q(s, a)) + E_a[psi Q(s, a) | s], whose Sigma_a is 0. Sigma_s is the same for all
three, Sigma_tau the same for all three and depends only on Rhat. Terms are per coordinate (the diagonal of
each covariance); Tucker et al. plot the log of their trace.

Two ways to the terms:

* exact, on the open-loop LQG (:class:`pgjax.problems.lqr.OpenLoopLQG`, :func:`exact_decomposition`): Rhat is
  a quadratic polynomial of the branch's standard normals xi = (y, f), y the standardised (s_t, a_t) and f the
  future's noise (:meth:`~pgjax.problems.lqr.OpenLoopLQG.branch_representation`). Writing
  Rhat = xi' M xi + b' xi + c in blocks, conditionally on y

      Q(y)   = E[Rhat | y]   = y' M_yy y + b_y' y + c + tr M_ff,
      v(y)   = Var(Rhat | y) = 2 tr(M_ff^2) + |b_f + 2 M_fy y|^2,

  both quadratics of the (m + d)-dimensional y, and psi_c = eps_c / sigma is linear in y. So, with Stein's
  identity m_c(s) = E_a[psi_c Q | s] = E_a[dQ/da_c] (linear in s),

      Sigma_s,c = Var(m_c),   Sigma_a,c = E[psi_c^2 (Q - b)^2] - E[m_c^2],   Sigma_tau,c = E[psi_c^2 v],

  moments of products of quadratics of a standard normal (:mod:`pgjax.problems.lqr.moments`), in float64.
  :func:`exact_total_variance` computes Var(g_t) directly from the whole trajectory's representation, as the
  check that the three terms add up.
* Monte Carlo by nested sampling (:func:`nested_components`): I states, J actions per state, K
  continuations per (state, action); the balanced nested analysis of variance gives per-seed unbiased
  estimates (W the mean within-(s, a) sample variance, B_a the mean within-state sample variance of the
  action means, B_s the sample variance of the state means)

      Sigma_tau ~ W,     Sigma_a ~ B_a - W / K,     Sigma_s ~ B_s - B_a / J.

  :class:`NestedLQGDecomposition` does it on the open-loop LQG through the engine; the gymnax version
  branches saved environment states (:mod:`pgjax.experiments.variance_decomposition`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar

import chex
import jax
import jax.numpy as jnp
import numpy as np

from pgjax.problems.lqr import OpenLoopLQG, Quadratic, moment2, moment3, moment4, quadratic_cov, quadratic_mean
from pgjax.tree_util import vary_like

#: The baselines of the action term: none, the state value V(s), the action-dependent Q(s, a).
BASELINES = ("none", "value", "q")


def gae_name(lam: float) -> str:
    return f"sigma_tau_gae{lam:g}"


def term_names(lambdas) -> tuple[str, ...]:
    """Output names: sigma_s, sigma_a_<baseline>, sigma_tau_mc, sigma_tau_gae<lambda>."""
    return ("sigma_s", *(f"sigma_a_{b}" for b in BASELINES), "sigma_tau_mc", *(gae_name(lam) for lam in lambdas))


def return_weights(steps: int, discount: float, lam: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, beta), (steps,) each, of Rhat_t = sum_j alpha_j r_{t+j} + sum_j beta_j V_{t+j}(s_{t+j}).

    Monte Carlo (lam None): alpha_j = gamma^j, beta = 0. GAE(lambda) with the exact V and V_T = 0:
    Rhat = V_t(s_t) + sum_j (gamma lambda)^j delta_{t+j}, so alpha_j = (gamma lambda)^j, beta_0 = 0 and
    beta_j = gamma (gamma lambda)^{j-1} - (gamma lambda)^j (Tucker et al.'s ``gae_opt='inf'``)."""
    j = np.arange(steps, dtype=np.float64)
    if lam is None:
        return discount**j, np.zeros(steps)
    gl = discount * lam
    alpha = gl**j
    beta = np.zeros(steps)
    beta[1:] = discount * gl ** (j[1:] - 1) - gl ** j[1:]
    return alpha, beta


def _weights(problem: OpenLoopLQG, values, t: int, lam: float | None):
    """Block weights of one return estimate over the rows of a branch at t: state blocks (k, m, m), action
    blocks (k, d, d), state linear terms (k, m) and the constant."""
    P, p, c = values
    mats = problem.matrices()
    k = problem.horizon - t
    alpha, beta = return_weights(k, problem.discount, lam)
    ws = -alpha[:, None, None] * mats["Q"] + beta[:, None, None] * P[t : t + k]
    wa = -alpha[:, None, None] * mats["R"]
    ls = beta[:, None] * p[t : t + k]
    return ws, wa, ls, float(beta @ c[t : t + k])


def _block_apply(ws, wa, X):
    """Omega @ X for the block-diagonal Omega = diag(ws_0 .. ws_{k-1}, wa_0 .. wa_{k-1})."""
    k, m, _ = ws.shape
    d = wa.shape[1]
    top = np.einsum("jab,jb...->ja...", ws, X[: k * m].reshape((k, m) + X.shape[1:]))
    bottom = np.einsum("jab,jb...->ja...", wa, X[k * m :].reshape((k, d) + X.shape[1:]))
    return np.concatenate([top.reshape((k * m,) + X.shape[1:]), bottom.reshape((k * d,) + X.shape[1:])])


def _branch_quadratics(problem: OpenLoopLQG, mu, t: int, lambdas, values):
    """Per return estimate (Monte Carlo, then each lambda): (Q, v) as (M, b, c) on y = (z_s, eps_t)."""
    G, g0, k = problem.branch_representation(mu, t)
    ny = problem.state_dim + problem.action_dim
    Gy, Gf = G[:, :ny], G[:, ny:]
    Kf = Gf @ Gf.T
    out = []
    for lam in (None, *lambdas):
        ws, wa, ls, const = _weights(problem, values, t, lam)
        lin = np.concatenate([ls.reshape(-1), np.zeros(k * problem.action_dim)])
        OG_y = _block_apply(ws, wa, Gy)
        Og0 = _block_apply(ws, wa, g0)
        OK = _block_apply(ws, wa, Kf)
        b = G.T @ (2.0 * Og0 + lin)
        c = g0 @ Og0 + lin @ g0 + const
        Myy = Gy.T @ OG_y
        Mfy = Gf.T @ OG_y
        bf = b[ny:]
        q = (Myy, b[:ny], c + np.trace(OK))
        v = (4.0 * Mfy.T @ Mfy, 4.0 * Mfy.T @ bf, 2.0 * np.sum(OK * OK.T) + bf @ bf)
        out.append((q, v))
    return out


def _terms_6d(q: Quadratic, vs: list[Quadratic], m: int, d: int, sigma: float):
    """Per coordinate: (Sigma_s, Sigma_a none/value/q, Sigma_tau per return, exact E[g]) for one t."""
    ny = m + d
    eye = jnp.eye(ny, dtype=q.M.dtype)
    is_s = jnp.arange(ny) < m
    zero_a = jnp.where(is_s[:, None] & is_s[None, :], q.M, 0.0)
    value = Quadratic(M=zero_a, b=jnp.where(is_s, q.b, 0.0), c=q.c + jnp.trace(q.M) - jnp.trace(zero_a))
    adv = q - value
    rows = []
    for ci in range(d):
        idx = m + ci
        psi = Quadratic(M=jnp.zeros((ny, ny), q.M.dtype), b=eye[idx] / sigma, c=jnp.zeros((), q.M.dtype))
        mc = Quadratic(
            M=jnp.zeros((ny, ny), q.M.dtype), b=jnp.where(is_s, 2.0 * q.M[idx], 0.0) / sigma, c=q.b[idx] / sigma
        )
        m2 = moment2(mc, mc)
        sig_s = quadratic_cov(mc, mc)
        sig_a = [moment4(psi, psi, q, q) - m2, moment4(psi, psi, adv, adv) - m2, jnp.zeros((), q.M.dtype)]
        sig_tau = [moment3(psi, psi, v) for v in vs]
        rows.append(jnp.stack([sig_s, *sig_a, *sig_tau, quadratic_mean(mc)]))
    return jnp.stack(rows, axis=-1)  # (terms + 1, d)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _terms_all(q: Quadratic, vs: list[Quadratic], m: int, d: int, sigma: jax.Array) -> jax.Array:
    """:func:`_terms_6d` at every t (compiled once per shape)."""
    return jax.vmap(lambda q, vs: _terms_6d(q, vs, m, d, sigma))(q, vs)


def exact_decomposition(problem: OpenLoopLQG, mu, lambdas=(0.0, 0.99)) -> dict[str, np.ndarray]:
    """Exact per-coordinate terms, (T, d) each, of g_t at every t (module docstring), in float64, keyed by
    :func:`term_names`, plus ``gradient``: E[g_t] (Tucker et al.'s per-step gradient) and ``total_<baseline>``
    (with the Monte Carlo return) and ``total_<baseline>_gae<lambda>``, the sums of the terms."""
    mu = np.asarray(mu, np.float64)
    T, m, d = problem.horizon, problem.state_dim, problem.action_dim
    values = problem.exact_values(mu)
    per_t = [_branch_quadratics(problem, mu, t, lambdas, values) for t in range(T)]
    with jax.enable_x64(True):
        stack = lambda parts: Quadratic(*(jnp.asarray(np.stack(x), jnp.float64) for x in zip(*parts)))
        q = stack([pt[0][0] for pt in per_t])
        vs = [stack([pt[e][1] for pt in per_t]) for e in range(len(lambdas) + 1)]
        terms = np.asarray(_terms_all(q, vs, m, d, jnp.float64(problem.sigma)))  # (T, n_terms + 1, d)
    names = term_names(lambdas)
    chex.assert_shape(terms, (T, len(names) + 1, d))
    out = {name: terms[:, i] for i, name in enumerate(names)}
    out["gradient"] = terms[:, -1]
    taus = {"": out["sigma_tau_mc"], **{f"_gae{lam:g}": out[gae_name(lam)] for lam in lambdas}}
    for b in BASELINES:
        for suffix, tau in taus.items():
            out[f"total_{b}{suffix}"] = out["sigma_s"] + out[f"sigma_a_{b}"] + tau
    return out


def exact_total_variance(problem: OpenLoopLQG, mu, t: int, baseline: str, lam: float | None = None) -> np.ndarray:
    """Var(g_t), (d,), computed directly from the WHOLE trajectory's representation (from s_0; no
    conditioning): the quadratics of Rhat_t, V_t(s_t) and Q_t(s_t, a_t) (from the value recursion) in the
    trajectory's standard normals, and Var(psi (Rhat - b)) = E[psi^2 (Rhat - b)^2] - E[psi (Rhat - b)]^2
    (for b = Q: psi (Rhat - Q) + grad_a Q(s, mu_t)). Float64; O(D^3) with D = m + d T + m (T - 1), so for
    small T (the check of :func:`exact_decomposition`)."""
    mu = np.asarray(mu, np.float64)
    T, m, d = problem.horizon, problem.state_dim, problem.action_dim
    P, p, c = problem.exact_values(mu)
    G, g0, _ = problem.branch_representation(mu, 0)
    D = G.shape[1]
    alpha_t, beta_t = return_weights(T - t, problem.discount, lam)  # the return restarts at t
    alpha, beta = np.concatenate([np.zeros(t), alpha_t]), np.concatenate([np.zeros(t), beta_t])
    mats = problem.matrices()
    ws = -alpha[:, None, None] * mats["Q"] + beta[:, None, None] * P[:T]
    wa = -alpha[:, None, None] * mats["R"]
    ls = beta[:, None] * p[:T]
    const = float(beta @ c[:T])
    lin = np.concatenate([ls.reshape(-1), np.zeros(T * d)])
    OG, Og0 = _block_apply(ws, wa, G), _block_apply(ws, wa, g0)

    def quad(M, b, c0):
        return Quadratic(M=jnp.asarray(M), b=jnp.asarray(b), c=jnp.asarray(c0))

    s_rows, a_rows = slice(t * m, (t + 1) * m), slice(T * m + t * d, T * m + (t + 1) * d)
    Gs, Ga, gs, ga = G[s_rows], G[a_rows], g0[s_rows], g0[a_rows]
    ret = (G.T @ OG, G.T @ (2.0 * Og0 + lin), g0 @ Og0 + lin @ g0 + const)
    if baseline == "none":
        base = (np.zeros((D, D)), np.zeros(D), 0.0)
    elif baseline == "value":
        base = (Gs.T @ P[t] @ Gs, Gs.T @ (2.0 * P[t] @ gs + p[t]), gs @ P[t] @ gs + p[t] @ gs + c[t])
    elif baseline == "q":
        H, h, h0 = problem.q_coefficients(mu, t)
        Gy, gy = np.concatenate([Gs, Ga]), np.concatenate([gs, ga])
        base = (Gy.T @ H @ Gy, Gy.T @ (2.0 * H @ gy + h), gy @ H @ gy + h @ gy + h0)
    else:
        raise ValueError(f"unknown baseline {baseline!r}; choose from {BASELINES}")
    out = np.zeros(d)
    with jax.enable_x64(True):
        diff = quad(ret[0] - base[0], ret[1] - base[1], ret[2] - base[2])
        for ci in range(d):
            psi = quad(np.zeros((D, D)), Ga[ci] / problem.sigma**2, 0.0)
            second = moment4(psi, psi, diff, diff)
            mean = moment2(psi, diff)
            if baseline == "q":
                H, h, _ = problem.q_coefficients(mu, t)
                idx = m + ci  # grad_a Q(s, mu_t) = 2 H[a, :] (s, mu_t) + h_a, linear in s
                row = 2.0 * H[idx]
                grad = quad(np.zeros((D, D)), Gs.T @ row[:m], row[:m] @ gs + row[m:] @ mu[t] + h[idx])
                second = second + 2.0 * moment3(psi, diff, grad) + moment2(grad, grad)
                mean = mean + quadratic_mean(grad)
            out[ci] = float(second - mean**2)
    return out


def nested_components(x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Unbiased (Sigma_s, Sigma_a, Sigma_tau) from one balanced nested sample x (I, J, K, ...): I states, J
    actions per state, K continuations per (state, action), I, J, K >= 2 (module docstring)."""
    n_states, J, K = x.shape[:3]
    if min(n_states, J, K) < 2:
        raise ValueError(f"nested_components needs I, J, K >= 2 (got {x.shape[:3]})")
    xa = jnp.mean(x, axis=2)  # (I, J, ...)
    xs = jnp.mean(xa, axis=1)  # (I, ...)
    within = jnp.mean(jnp.var(x, axis=2, ddof=1), axis=(0, 1))
    between_a = jnp.mean(jnp.var(xa, axis=1, ddof=1), axis=0)
    between_s = jnp.var(xs, axis=0, ddof=1)
    return between_s - between_a / J, between_a - within / K, within


def mc_term_names(lambdas) -> tuple[str, ...]:
    """Outputs of :class:`NestedLQGDecomposition`: the terms of :func:`term_names` but sigma_a_q (exactly 0
    there), then ``sigma_a_none_sampled`` (Sigma_a^0 from sampled returns only, no critic)."""
    return tuple(n for n in term_names(lambdas) if n != "sigma_a_q") + ("sigma_a_none_sampled",)


@dataclasses.dataclass(frozen=True)
class NestedLQGDecomposition:
    """Monte Carlo estimates of :func:`mc_term_names` at every t, each shaped like mu (T, d), from one nested
    sample per seed on :class:`~pgjax.problems.lqr.OpenLoopLQG`.

    ``n`` >= 2 independent trajectories give the states s_t; at each (trajectory, t), ``actions`` draws of a_t
    and, per action, ``continuations`` independent continuations to the horizon. Per coordinate c:

    * Sigma_s: the sample variance over the n states of m_c(s) = grad_a Q_t(s, mu_t) (exact critic);
    * Sigma_a^b: the mean over states of the sample variance over actions of psi (Q(s, a) - b(s)), with the
      exact Q and b = 0 or V (as Tucker et al.'s own estimates use the exact Q);
    * Sigma_tau: the mean within-(s, a) sample variance of psi Rhat over continuations, for the Monte Carlo
      return and every GAE(lambda) return (exact V);
    * Sigma_a^0 from sampled returns only: B_a - W / K of the nested analysis of variance
      (:func:`nested_components`), which needs no critic but carries Sigma_tau / K of noise.

    Each is unbiased. The continuations of every (trajectory, t, action) run as one batched scan of T steps,
    the steps past the horizon masked; all noise is drawn before the scan."""

    actions: int = 4
    continuations: int = 4
    lambdas: tuple[float, ...] = (0.0, 0.99)
    name: ClassVar[str] = "nested_decomposition"

    def __call__(self, key, params, problem: OpenLoopLQG, n: int):
        mu = jnp.asarray(params)
        T, m, d = problem.horizon, problem.state_dim, problem.action_dim
        chex.assert_shape(mu, (T, d))
        dtype = mu.dtype
        A, B, Qm, R, W = (
            jnp.asarray(x, dtype) for x in (problem.A, problem.B, problem.Q, problem.R, problem.process_cov)
        )
        w_sqrt = jnp.asarray(np.linalg.cholesky(np.asarray(problem.process_cov)), dtype)
        g, sig = problem.discount, problem.sigma
        P, p, c = problem.values(mu)
        J, K = self.actions, self.continuations
        k_roll, k_act, k_cont = jax.random.split(key, 3)
        mv = lambda M, x: jnp.einsum("ij,...j->...i", M, x)
        quad = lambda x, M: jnp.einsum("...i,...i->...", x, mv(M, x))

        # states s_t of n trajectories: (T, n, m)
        k0, ka, kw = jax.random.split(k_roll, 3)
        s0 = jnp.asarray(problem.s0_mean, dtype) + mv(w_sqrt, jax.random.normal(k0, (n, m), dtype))
        roll_a = mu[:, None] + sig * jax.random.normal(ka, (T, n, d), dtype)
        roll_w = mv(w_sqrt, jax.random.normal(kw, (T, n, m), dtype))

        def roll(s, xs):
            a, w = xs
            return mv(A, s) + mv(B, a) + w, s

        states = jax.lax.scan(roll, vary_like(s0, roll_a), (roll_a, roll_w))[1]  # (T, n, m)
        eps = jax.random.normal(k_act, (T, n, J, d), dtype)
        acts = mu[:, None, None] + sig * eps  # (T, n, J, d)
        psi = eps / sig  # (a - mu) / sigma^2

        # exact critic at the branch points
        ts = jnp.arange(T)
        v_s = jnp.einsum("tni,tni->tn", states, jnp.einsum("tij,tnj->tni", P[:T], states))
        v_s = v_s + jnp.einsum("ti,tni->tn", p[:T], states) + c[:T, None]
        Pn, pn, cn = P[1:], p[1:], c[1:]
        x_next = mv(A, states)[:, :, None] + mv(B, acts)  # (T, n, J, m)
        q_sa = -(quad(states, Qm)[:, :, None] + quad(acts, R)) + g * (
            jnp.einsum("tnji,tnji->tnj", x_next, jnp.einsum("tik,tnjk->tnji", Pn, x_next))
            + jnp.einsum("ti,tnji->tnj", pn, x_next)
            + (jnp.einsum("tij,ji->t", Pn, W) + cn)[:, None, None]
        )
        x_mean = mv(A, states) + mv(B, mu)[:, None]  # (T, n, m): A s + B mu_t
        grad_q = -2.0 * mv(R, mu)[:, None] + g * mv(B.T, 2.0 * jnp.einsum("tij,tnj->tni", Pn, x_mean) + pn[:, None])

        # continuations: (T [t], n, J, K) branches, scanned over the step j of the branch
        shape = (T, n, J, K)
        noise_a = sig * jax.random.normal(jax.random.fold_in(k_cont, 0), (T,) + shape + (d,), dtype)
        noise_w = mv(w_sqrt, jax.random.normal(jax.random.fold_in(k_cont, 1), (T,) + shape + (m,), dtype))
        lams = jnp.asarray(self.lambdas, dtype)
        gls = g * lams
        tb = ts[:, None, None, None]  # the branch time t, broadcast over (n, J, K)

        def value(tau, s):
            tau = jnp.minimum(tau, T)
            return (
                jnp.einsum("...i,...i->...", s, jnp.einsum("...ij,...j->...i", P[tau], s))
                + jnp.einsum("...i,...i->...", p[tau], s)
                + c[tau]
            )

        def body(carry, xs):
            s, a, mc, gae = carry
            j, na, nw = xs
            tau = tb + j
            live = (tau < T).astype(dtype)
            r = -(quad(s, Qm) + quad(a, R))
            s_next = mv(A, s) + mv(B, a) + nw
            delta = r + g * value(tau + 1, s_next) - value(tau, s)
            mc = mc + live * g**j * r
            gae = gae + (live * delta)[..., None] * gls**j
            a_next = mu[jnp.minimum(tau + 1, T - 1)] + na
            return (s_next, a_next, mc, gae), None

        s_b = jnp.broadcast_to(states[:, :, None, None], shape + (m,))
        a_b = jnp.broadcast_to(acts[:, :, :, None], shape + (d,))
        init = vary_like((s_b, a_b, jnp.zeros(shape, dtype), jnp.zeros(shape + lams.shape, dtype)), mu, s_b)
        (_, _, mc, gae), _ = jax.lax.scan(body, init, (jnp.arange(T), noise_a, noise_w))
        gae = gae + value(tb, s_b)[..., None]

        # the terms, each (T, d)
        sig_s = jnp.var(grad_q, axis=1, ddof=1)
        sig_a_none = jnp.mean(jnp.var(psi * q_sa[..., None], axis=2, ddof=1), axis=1)
        sig_a_value = jnp.mean(jnp.var(psi * (q_sa - v_s[:, :, None])[..., None], axis=2, ddof=1), axis=1)
        to_nested = lambda x: jnp.moveaxis(x, 0, 3)  # (T, n, J, K, d) -> (n, J, K, T, d)
        x_mc = to_nested(psi[:, :, :, None] * mc[..., None])
        _, sampled_a, tau_mc = nested_components(x_mc)
        taus = [nested_components(to_nested(psi[:, :, :, None] * gae[..., i, None]))[2] for i in range(len(lams))]
        return (sig_s, sig_a_none, sig_a_value, tau_mc, *taus, sampled_a)


__all__ = [
    "BASELINES",
    "NestedLQGDecomposition",
    "exact_decomposition",
    "exact_total_variance",
    "gae_name",
    "mc_term_names",
    "nested_components",
    "return_weights",
    "term_names",
]
