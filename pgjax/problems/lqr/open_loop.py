r"""Linear-quadratic-Gaussian control with an open-loop, time-indexed Gaussian policy (Tucker et al., 2018).

The set-up of the LQG experiments of Tucker, Bhupatiraju, Gu, Turner, Ghahramani and Levine (2018), "The
Mirage of Action-Dependent Baselines in Reinforcement Learning" (Section 3.1, Appendix 9, Figure 1). State
s_t in R^m, action a_t in R^d, horizon T, discount gamma:

    s_0 ~ N(s0_mean, process_cov),      a_t ~ N(mu_t, sigma^2 I)      (open loop: a_t does not see s_t),
    s_{t+1} = A s_t + B a_t + w_t,      w_t ~ N(0, process_cov),
    r_t = -(s_t' Q s_t + a_t' R a_t),   t = 0 .. T-1.

The parameters are the time-indexed means mu (T, d); the score of a_t is psi_t = (a_t - mu_t) / sigma^2.

Exact moments. Under the policy, s_t ~ N(m_t, S_t) with m_{t+1} = A m_t + B mu_t and
S_{t+1} = A S_t A' + sigma^2 B B' + process_cov. The value of time t, V_t(s) = E[sum_{k>=t} gamma^{k-t} r_k | s_t = s]
= s' P_t s + p_t' s + c_t, follows backwards from V_T = 0:

    P_t = -Q + gamma A' P_{t+1} A,
    p_t = gamma A' (2 P_{t+1} B mu_t + p_{t+1}),
    c_t = -(mu_t' R mu_t + sigma^2 tr R) + gamma (mu_t' B' P_{t+1} B mu_t + sigma^2 tr(B' P_{t+1} B)
          + tr(P_{t+1} process_cov) + p_{t+1}' B mu_t + c_{t+1}),

and Q_t(s, a) = -(s' Q s + a' R a) + gamma E[V_{t+1}(A s + B a + w)]. Tucker et al.'s per-step gradient is
E_{s_t}[grad_a Q_t(s_t, a)|_{a = mu_t}] = -2 R mu_t + gamma B' (2 P_{t+1} (A m_t + B mu_t) + p_{t+1})
(:meth:`OpenLoopLQG.step_gradient`; the gradient of J_0 with respect to mu_t is gamma^t times it).

Gaussian representation of a branch. From time t on, the trajectory is an affine function of a standard
normal vector xi = [z (m), eps_t .. eps_{T-1} (d each), omega_t .. omega_{T-2} (m each)] with
s_t = m_t + S_t^{1/2} z, a_k = mu_k + sigma eps_k and w_k = process_cov^{1/2} omega_k
(:meth:`OpenLoopLQG.branch_representation`). The first m + d coordinates are (s_t, a_t) standardised, the
rest the future's noise; so every return estimate that is a weighted sum of rewards and values is a
quadratic polynomial of xi (:mod:`pgjax.problems.lqr.moments`), which
:mod:`pgjax.estimators.variance_decomposition` splits into its state, action and trajectory parts.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.errors import ConfigError
from pgjax.problems.lqr.regulator import Matrix, _psd_sqrt
from pgjax.tree_util import vary_like


def _tuple2(arr) -> Matrix:
    return tuple(tuple(float(x) for x in row) for row in np.asarray(arr, np.float64))


@dataclasses.dataclass(frozen=True)
class OpenLoopLQG:
    """Finite-horizon LQG with the open-loop Gaussian policy a_t ~ N(mu_t, sigma^2 I) (module docstring).

    A frozen, hashable dataclass (static under ``jax.jit``); ``mu0`` holds the initial means (T, d). Build
    Tucker et al.'s 2-D point mass with :meth:`point_mass`.
    """

    A: Matrix
    B: Matrix
    Q: Matrix
    R: Matrix
    s0_mean: tuple[float, ...]
    process_cov: Matrix
    sigma: float
    mu0: Matrix
    discount: float = 0.99
    name: str = "open-loop-lqg"

    def __post_init__(self):
        m, d, T = self.state_dim, self.action_dim, self.horizon
        for field, mat, shape in (
            ("A", self.A, (m, m)),
            ("B", self.B, (m, d)),
            ("Q", self.Q, (m, m)),
            ("R", self.R, (d, d)),
            ("process_cov", self.process_cov, (m, m)),
            ("mu0", self.mu0, (T, d)),
        ):
            arr = np.asarray(mat, np.float64)
            if arr.shape != shape or not np.all(np.isfinite(arr)):
                raise ConfigError(field, f"must be a finite array of shape {shape} (got {arr.shape})")
        if len(self.s0_mean) != m:
            raise ConfigError("s0_mean", f"must have {m} entries (got {len(self.s0_mean)})")
        if not (math.isfinite(self.sigma) and self.sigma > 0):
            raise ConfigError("sigma", f"must be > 0 (got {self.sigma})")
        if not (math.isfinite(self.discount) and 0 < self.discount <= 1):
            raise ConfigError("discount", f"must be in (0, 1] (got {self.discount})")
        if T < 2:
            raise ConfigError("horizon", f"must be >= 2 (got {T})")

    @classmethod
    def point_mass(
        cls,
        *,
        horizon: int = 100,
        discount: float = 0.99,
        sigma_a2: float = 1e-4,
        sigma_s2: float = 1e-5,
        q: float = 1.0,
        r: float = 0.01,
        mass: float = 1.0,
        dt: float = 0.05,
        init_mean_var: float = 0.3,
        seed: int = 3,
    ) -> OpenLoopLQG:
        """Tucker et al.'s 2-D point mass (``getPointMassEnv`` and ``testPointMass`` of their ``lqg/lqr.py``):
        state (x, y, vx, vy) from (3, 4, 0.5, -0.5), A = [[I, dt I], [0, I]], B = [[0], [dt / mass I]],
        Q = q I, R = r I, process and initial-state covariance sigma_s2 I, action covariance sigma_a2 I, and
        initial means mu_t ~ N(0, init_mean_var I) drawn as numpy's legacy generator with ``seed`` draws
        them (their seed 3 gives their initial policy)."""
        if isinstance(horizon, bool) or int(horizon) != horizon or horizon < 2:
            raise ConfigError("horizon", f"must be an integer >= 2 (got {horizon})")
        for field, value in (("sigma_a2", sigma_a2), ("sigma_s2", sigma_s2), ("dt", dt), ("mass", mass)):
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(field, f"must be > 0 (got {value})")
        dim = 2
        A = np.eye(2 * dim)
        A[:dim, dim:] += dt * np.eye(dim)
        B = np.zeros((2 * dim, dim))
        B[dim:] = np.eye(dim) * dt / mass
        mu0 = np.random.RandomState(seed).randn(int(horizon), dim) * np.sqrt(init_mean_var)
        return cls(
            A=_tuple2(A),
            B=_tuple2(B),
            Q=_tuple2(q * np.eye(2 * dim)),
            R=_tuple2(r * np.eye(dim)),
            s0_mean=(3.0, 4.0, 0.5, -0.5),
            process_cov=_tuple2(sigma_s2 * np.eye(2 * dim)),
            sigma=float(math.sqrt(sigma_a2)),
            mu0=_tuple2(mu0),
            discount=float(discount),
            name="point-mass-lqg",
        )

    # ----- sizes and parameters -----
    @property
    def state_dim(self) -> int:
        return len(self.A)

    @property
    def action_dim(self) -> int:
        return len(self.B[0])

    @property
    def horizon(self) -> int:
        return len(self.mu0)

    @property
    def sample_cost(self) -> int:
        """One sample of the nested estimators is a trajectory with a branch of up to T steps at every step."""
        return self.horizon * self.horizon

    def init_params(self) -> jax.Array:
        return jnp.asarray(self.mu0, jnp.float32)

    def matrices(self, dtype=np.float64) -> dict[str, np.ndarray]:
        return {k: np.asarray(getattr(self, k), dtype) for k in ("A", "B", "Q", "R", "process_cov")}

    def describe(self) -> str:
        return (
            f"{self.name}: m={self.state_dim}, d={self.action_dim}, T={self.horizon}, gamma={self.discount}, "
            f"sigma_a^2={self.sigma**2:g}, process var={np.asarray(self.process_cov)[0, 0]:g}"
        )

    # ----- exact moments (float64, numpy) -----
    def state_moments(self, mu) -> tuple[jax.Array, jax.Array]:
        """Means (T, m) and covariances (T, m, m) of s_t under the policy with means ``mu`` (traceable; in
        the dtype of ``mu``)."""
        mu = jnp.asarray(mu)
        A, B, W = (jnp.asarray(x, mu.dtype) for x in (self.A, self.B, self.process_cov))
        s2 = self.sigma**2

        def body(carry, mu_t):
            mean, cov = carry
            nxt = (A @ mean + B @ mu_t, A @ cov @ A.T + s2 * B @ B.T + W)
            return nxt, carry

        init = vary_like((jnp.asarray(self.s0_mean, mu.dtype), W), mu)
        _, (means, covs) = jax.lax.scan(body, init, mu)
        return means, covs

    def values(self, mu) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(P (T+1, m, m), p (T+1, m), c (T+1,)) of V_t(s) = s' P_t s + p_t' s + c_t with V_T = 0, by the
        backward recursion of the module docstring (traceable; in the dtype of ``mu``)."""
        mu = jnp.asarray(mu)
        A, B, Qm, R, W = (jnp.asarray(x, mu.dtype) for x in (self.A, self.B, self.Q, self.R, self.process_cov))
        g, s2, m = self.discount, self.sigma**2, self.state_dim

        def body(carry, mu_t):
            Pn, pn, cn = carry
            Bmu = B @ mu_t
            P = -Qm + g * A.T @ Pn @ A
            p = g * A.T @ (2.0 * Pn @ Bmu + pn)
            c = -(mu_t @ R @ mu_t + s2 * jnp.trace(R)) + g * (
                Bmu @ Pn @ Bmu + s2 * jnp.trace(B.T @ Pn @ B) + jnp.trace(Pn @ W) + pn @ Bmu + cn
            )
            return (P, p, c), (P, p, c)

        zero = (jnp.zeros((m, m), mu.dtype), jnp.zeros((m,), mu.dtype), jnp.zeros((), mu.dtype))
        _, (P, p, c) = jax.lax.scan(body, vary_like(zero, mu), mu, reverse=True)
        return tuple(jnp.concatenate([x, z[None]]) for x, z in zip((P, p, c), vary_like(zero, mu)))

    def exact_values(self, mu) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`values` in float64 on the host."""
        with jax.enable_x64(True):
            return tuple(np.asarray(x) for x in _values(self, np.asarray(mu, np.float64)))

    def exact_state_moments(self, mu) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`state_moments` in float64 on the host."""
        with jax.enable_x64(True):
            return tuple(np.asarray(x) for x in _state_moments(self, np.asarray(mu, np.float64)))

    def q_coefficients(self, mu, t: int) -> tuple[np.ndarray, np.ndarray, float]:
        """Q_t(s, a) = y' H y + h' y + h0 with y = (s, a): (H (m+d, m+d), h (m+d,), h0), from V_{t+1}."""
        M = self.matrices()
        A, B, Qm, R, W = M["A"], M["B"], M["Q"], M["R"], M["process_cov"]
        P, p, c = self.exact_values(mu)
        g, m = self.discount, self.state_dim
        F = np.concatenate([A, B], axis=1)  # s_{t+1} - w = F y
        H = g * F.T @ P[t + 1] @ F
        H[:m, :m] -= Qm
        H[m:, m:] -= R
        h = g * F.T @ p[t + 1]
        h0 = g * (np.trace(P[t + 1] @ W) + c[t + 1])
        return H, h, float(h0)

    def step_gradient(self, mu) -> jax.Array:
        """Tucker et al.'s exact per-step gradient E_{s_t}[grad_a Q_t(s_t, a)|_{a = mu_t}], (T, d) (their
        ``E_grad_mu_fn``; the gradient of J_0 in mu_t is gamma^t times it). Traceable, in the dtype of mu."""
        mu = jnp.asarray(mu)
        A, B, R = (jnp.asarray(x, mu.dtype) for x in (self.A, self.B, self.R))
        P, p, _ = self.values(mu)
        means, _ = self.state_moments(mu)
        nxt = means @ A.T + mu @ B.T  # (T, m): E[s_{t+1} - w_t]
        inner = 2.0 * jnp.einsum("tmn,tn->tm", P[1:], nxt) + p[1:]
        return -2.0 * mu @ R + self.discount * inner @ B

    def exact_step_gradient(self, mu) -> np.ndarray:
        """:meth:`step_gradient` in float64 on the host."""
        with jax.enable_x64(True):
            return np.asarray(_step_gradient(self, np.asarray(mu, np.float64)))

    def train_means(self, snapshots, learning_rate: float = 1e-3, momentum: float = 0.1) -> dict[int, np.ndarray]:
        """The means after each number of updates in ``snapshots``, by Tucker et al.'s optimiser (``optimize``
        with ``opt='sgd'``, mean only): running = momentum running + (1 - momentum) grad (running = grad at
        the first update), mu += learning_rate running, with the exact :meth:`step_gradient`. Float64."""
        snapshots = sorted(set(int(u) for u in snapshots))
        out: dict[int, np.ndarray] = {}
        with jax.enable_x64(True):
            mu = jnp.asarray(self.mu0, jnp.float64)
            running = _step_gradient(self, mu)
            done = 0
            for target in snapshots:
                if target > done:
                    mu, running = _train(self, mu, running, learning_rate, momentum, target - done, done == 0)
                    done = target
                out[target] = np.asarray(mu)
        return out

    def objective(self, params) -> jax.Array:
        """J(mu) = sum_t gamma^t E[r_t] (traceable)."""
        M = {k: jnp.asarray(v) for k, v in self.matrices().items()}
        mu = jnp.asarray(params)
        dtype = mu.dtype
        s2 = self.sigma**2

        def body(carry, xs):
            mean, cov = carry
            mu_t, w = xs
            er = -(jnp.trace(M["Q"] @ cov) + mean @ M["Q"] @ mean + mu_t @ M["R"] @ mu_t + s2 * jnp.trace(M["R"]))
            mean = M["A"] @ mean + M["B"] @ mu_t
            cov = M["A"] @ cov @ M["A"].T + s2 * M["B"] @ M["B"].T + M["process_cov"]
            return (mean, cov), w * er

        w = self.discount ** jnp.arange(self.horizon, dtype=dtype)
        init = (jnp.asarray(self.s0_mean, dtype), M["process_cov"].astype(dtype))
        _, terms = jax.lax.scan(body, vary_like(init, mu), (mu, w))
        return jnp.sum(terms)

    def branch_representation(self, mu, t: int) -> tuple[np.ndarray, np.ndarray, int]:
        """The trajectory from s_t on as an affine function of a standard normal xi (module docstring).

        Returns (G, g0, k): rows of ``G @ xi + g0`` are s_t .. s_{T-1} (k = T - t blocks of m), then
        a_t .. a_{T-1} (k blocks of d); xi has m + d k + m (k - 1) coordinates, the first m + d being the
        standardised (s_t, a_t)."""
        M = self.matrices()
        A, B, W = M["A"], M["B"], M["process_cov"]
        mu = np.asarray(mu, np.float64)
        means, covs = self.exact_state_moments(mu)
        m, d, T = self.state_dim, self.action_dim, self.horizon
        k = T - t
        D = m + d * k + m * (k - 1)
        w_sqrt = _psd_sqrt(W)
        Phi, Psi = np.zeros((k, m, D)), np.zeros((k, d, D))
        s_mean, a_mean = np.zeros((k, m)), mu[t:].copy()
        Phi[0][:, :m] = _psd_sqrt(covs[t])
        s_mean[0] = means[t]
        for j in range(k):
            Psi[j][:, m + d * j : m + d * (j + 1)] = self.sigma * np.eye(d)
            if j + 1 < k:
                Phi[j + 1] = A @ Phi[j] + B @ Psi[j]
                off = m + d * k + m * j
                Phi[j + 1][:, off : off + m] += w_sqrt
                s_mean[j + 1] = A @ s_mean[j] + B @ a_mean[j]
        G = np.concatenate([Phi.reshape(k * m, D), Psi.reshape(k * d, D)])
        g0 = np.concatenate([s_mean.reshape(-1), a_mean.reshape(-1)])
        return G, g0, k


#: Compiled once per problem and dtype (an eager ``lax.scan`` would compile at every call).
_values = jax.jit(OpenLoopLQG.values, static_argnums=0)
_state_moments = jax.jit(OpenLoopLQG.state_moments, static_argnums=0)
_step_gradient = jax.jit(OpenLoopLQG.step_gradient, static_argnums=0)


@jax.jit(static_argnums=(0, 5, 6))
def _train(problem: OpenLoopLQG, mu, running, learning_rate, momentum, updates: int, first: bool):
    def body(carry, i):
        mu, running = carry
        grad = problem.step_gradient(mu)
        fresh = jnp.logical_and(first, i == 0)
        running = jnp.where(fresh, grad, momentum * running + (1.0 - momentum) * grad)
        return (mu + learning_rate * running, running), None

    return jax.lax.scan(body, (mu, running), jnp.arange(updates))[0]


__all__ = ["OpenLoopLQG"]
