"""Gaussian expectations of the test functions of Mohamed, Rosca, Figurnov & Mnih (2020).

The problem (Mohamed et al. 2020, Section 3, eq. 10): for a diagonal Gaussian x ~ N(mu, diag(sigma^2)) in
D dimensions and a test function applied per coordinate and summed,

    J(mu, sigma) = E_{x ~ N(mu, diag(sigma^2))}[f(x)],     f(x) = sum_d g(x_d; k),

with one of the paper's three functions g and a scalar parameter k:

    quadratic   g(x) = (x - k)^2        E g = (m - k)^2 + s^2
    exp         g(x) = exp(-k x^2)      E g = exp(-k m^2 / (1 + 2 k s^2)) / sqrt(1 + 2 k s^2)      (k >= 0)
    cos         g(x) = cos(k x)         E g = cos(k m) exp(-k^2 s^2 / 2)

(E g for x ~ N(m, s^2)). J is in closed form, so the true gradient is ``jax.grad(problem.objective)``. The
parameters are ``GaussianParams(mu, sigma)`` (the paper's parameterisation, used in its Figures 2 and 3) or,
with ``scale="log_sigma"``, ``GaussianLogParams(mu, log_sigma)``.

Randomness: ``sample_noise(key, n)`` draws eps ~ N(0, I) of shape (n, D) and ``sample`` returns
x = mu + sigma * eps, so every estimator that draws through the problem sees the same x for the same key.

Gaussian structure. Besides the :class:`~pgjax.problems.base.Problem` interface, the problem offers what the
measure-valued and delta-method estimators need: ``gaussian(params) -> (mu, sigma)``, the test function
``f(x)`` (x of shape (..., D) -> (...)), and its per-coordinate part ``coordinate_function(x)`` (elementwise g).

Exact moments. All exact single-sample variances are one-dimensional integrals against a standard normal (or a
Weibull / double-sided Maxwell density, for the measure-valued estimator), because f is a sum over independent
coordinates: for coordinate c write f = g(x_c) + T_c with T_c = sum_{d != c} g(x_d) independent of x_c, so the
cross terms factorise,

    E[f^2 psi_c^2] = E[g_c^2 psi_c^2] + 2 E[g_c psi_c^2] E[T_c] + E[T_c^2] E[psi_c^2].

The integrals use composite Gauss-Legendre rules (16 nodes per panel, panels of width 0.25 on [-12, 12] by
default; see :func:`quadrature_rule`): unlike Gauss-Hermite, they stay accurate for the sharply peaked
exp(-k x^2) at large k and the fast oscillations of cos(k x); the tests check them against closed forms and
bound the change when the number of panels is doubled.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.typing import ArrayLike

from pgjax.errors import ConfigError
from pgjax.problems.base import GaussianStructure, Params, ScoreMoments

# ----------------------------------------------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------------------------------------------


@struct.dataclass
class GaussianParams:
    """mu (D,), the mean; sigma (D,), the standard deviation (> 0)."""

    mu: jax.Array
    sigma: jax.Array


@struct.dataclass
class GaussianLogParams:
    """mu (D,), the mean; log_sigma (D,), the log of the standard deviation."""

    mu: jax.Array
    log_sigma: jax.Array


SCALES = ("sigma", "log_sigma")
"""Parameterisations of the scale: sigma itself (the paper's) or log sigma."""

# ----------------------------------------------------------------------------------------------------------
# The test functions
# ----------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ScalarFunction:
    """A function g(x; k) of a scalar, applied elementwise, with its Gaussian expectation in closed form."""

    name: ClassVar[str] = "function"
    #: plain-text and mathtext forms, with k as a placeholder
    text: ClassVar[str] = ""
    math: ClassVar[str] = ""

    def __call__(self, x: ArrayLike, k: ArrayLike) -> jax.Array:
        raise NotImplementedError

    def gaussian_expectation(self, mean: ArrayLike, std: ArrayLike, k: ArrayLike) -> jax.Array:
        """E[g(x; k)] for x ~ N(mean, std^2), elementwise."""
        raise NotImplementedError

    def check_k(self, k: float) -> None:
        """Raises ConfigError if k is outside the function's allowed range."""
        if not math.isfinite(k):
            raise ConfigError("k", f"must be finite (got {k})")


@dataclasses.dataclass(frozen=True)
class SquaredDistance(ScalarFunction):
    """g(x) = (x - k)^2;  E g = (m - k)^2 + s^2."""

    name: ClassVar[str] = "quadratic"
    text: ClassVar[str] = "(x - k)^2"
    math: ClassVar[str] = r"(x-k)^2"

    def __call__(self, x: ArrayLike, k: ArrayLike) -> jax.Array:
        return (x - k) ** 2

    def gaussian_expectation(self, mean: ArrayLike, std: ArrayLike, k: ArrayLike) -> jax.Array:
        return (mean - k) ** 2 + std**2


@dataclasses.dataclass(frozen=True)
class ExpSquare(ScalarFunction):
    """g(x) = exp(-k x^2) (k >= 0);  E g = exp(-k m^2 / (1 + 2 k s^2)) / sqrt(1 + 2 k s^2)."""

    name: ClassVar[str] = "exp"
    text: ClassVar[str] = "exp(-k x^2)"
    math: ClassVar[str] = r"e^{-kx^2}"

    def __call__(self, x: ArrayLike, k: ArrayLike) -> jax.Array:
        return jnp.exp(-k * x**2)

    def gaussian_expectation(self, mean: ArrayLike, std: ArrayLike, k: ArrayLike) -> jax.Array:
        scale = 1.0 + 2.0 * k * std**2
        return jnp.exp(-k * mean**2 / scale) / jnp.sqrt(scale)

    def check_k(self, k: float) -> None:
        if not (math.isfinite(k) and k >= 0):
            raise ConfigError("k", f"must be >= 0 for exp(-k x^2) (got {k})")


@dataclasses.dataclass(frozen=True)
class Cosine(ScalarFunction):
    """g(x) = cos(k x);  E g = cos(k m) exp(-k^2 s^2 / 2)."""

    name: ClassVar[str] = "cos"
    text: ClassVar[str] = "cos(k x)"
    math: ClassVar[str] = r"\cos(kx)"

    def __call__(self, x: ArrayLike, k: ArrayLike) -> jax.Array:
        return jnp.cos(k * x)

    def gaussian_expectation(self, mean: ArrayLike, std: ArrayLike, k: ArrayLike) -> jax.Array:
        return jnp.cos(k * mean) * jnp.exp(-0.5 * (k * std) ** 2)


#: The paper's test functions by name.
FUNCTIONS: dict[str, ScalarFunction] = {fn.name: fn for fn in (SquaredDistance(), ExpSquare(), Cosine())}

# ----------------------------------------------------------------------------------------------------------
# Quadrature rules
# ----------------------------------------------------------------------------------------------------------

#: Gauss-Legendre nodes per panel of the composite rules.
PANEL_ORDER = 16
#: Half-width L of the integration range [-L, L] ([0, L] for the Weibull); the neglected tail mass of a
#: standard normal times any polynomial of degree <= 12 is below 1e-20.
HALF_WIDTH = 12.0
#: Default number of panels on [-L, L] (panel width 0.25).
DEFAULT_PANELS = 96

DENSITIES = ("normal", "weibull", "maxwell", "uniform")


@functools.cache
def _composite_gauss_legendre(a: float, b: float, panels: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(PANEL_ORDER)
    edges = np.linspace(a, b, panels + 1)
    half = 0.5 * np.diff(edges)
    mid = 0.5 * (edges[:-1] + edges[1:])
    nodes = (mid[:, None] + half[:, None] * x[None, :]).ravel()
    weights = (half[:, None] * w[None, :]).ravel()
    return nodes, weights


@functools.cache
def quadrature_rule(density: str, panels: int = DEFAULT_PANELS) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (float64, read-only) with sum_i w_i h(x_i) ~= E[h(X)] for X with the given density.

    Densities (the variables of the estimators):
      ``normal``   N(0, 1) on [-L, L];
      ``weibull``  w exp(-w^2 / 2) on [0, L]: Weibull(shape 2, scale sqrt 2), i.e. Rayleigh(1), the positive
                   and negative parts of the Gaussian-mean measure-valued derivative (Mohamed et al. 2020,
                   Table 1);
      ``maxwell``  m^2 exp(-m^2 / 2) / sqrt(2 pi) on [-L, L]: the double-sided Maxwell, the positive part of
                   the Gaussian-scale measure-valued derivative (Table 1);
      ``uniform``  U[0, 1] (``panels // 12`` panels, at least 8).

    Composite Gauss-Legendre, 16 nodes per panel, ``panels`` panels (on [0, L] for the Weibull: ``panels // 2``
    panels of the same width). Panel edges fall on 0, where the Weibull density starts.
    """
    if density not in DENSITIES:
        raise ValueError(f"density must be one of {DENSITIES} (got {density!r})")
    if panels < 8:
        raise ValueError(f"panels must be >= 8 (got {panels})")
    if density == "uniform":
        nodes, weights = _composite_gauss_legendre(0.0, 1.0, max(8, panels // 12))
    elif density == "weibull":
        nodes, weights = _composite_gauss_legendre(0.0, HALF_WIDTH, max(4, panels // 2))
        weights = weights * nodes * np.exp(-0.5 * nodes**2)
    else:
        nodes, weights = _composite_gauss_legendre(-HALF_WIDTH, HALF_WIDTH, panels + panels % 2)
        normal = weights * np.exp(-0.5 * nodes**2) / math.sqrt(2.0 * math.pi)
        weights = normal * nodes**2 if density == "maxwell" else normal
    nodes, weights = nodes.copy(), weights.copy()
    nodes.setflags(write=False)
    weights.setflags(write=False)
    return nodes, weights


def rule(density: str, panels: int, dtype: jnp.dtype) -> tuple[jax.Array, jax.Array]:
    """:func:`quadrature_rule` as jax arrays of ``dtype``."""
    nodes, weights = quadrature_rule(density, panels)
    return jnp.asarray(nodes, dtype), jnp.asarray(weights, dtype)


# ----------------------------------------------------------------------------------------------------------
# The problem
# ----------------------------------------------------------------------------------------------------------

CoordinateFn = Callable[[jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True)
class GaussianTestFunction:
    """E_{x ~ N(mu, diag(sigma^2))}[sum_d g(x_d; k)] for one of the test functions of Mohamed et al. (2020).

    Attributes:
      function: ``quadratic`` (x - k)^2, ``exp`` exp(-k x^2) or ``cos`` cos(k x).
      k: the function's parameter. May be a traced value inside a jitted function (see :meth:`with_k`).
      mu0, sigma0: the default parameters returned by :meth:`init_params`; length D each.
      scale: ``sigma`` (parameters mu, sigma) or ``log_sigma`` (parameters mu, log sigma).
      quadrature_panels: panels of 16 Gauss-Legendre nodes on [-12, 12] for the exact moments.
    """

    function: str = "quadratic"
    k: float = 1.0
    mu0: tuple[float, ...] = (1.0,)
    sigma0: tuple[float, ...] = (1.0,)
    scale: str = "sigma"
    quadrature_panels: int = DEFAULT_PANELS
    name: str = "gaussian_test_function"

    def __post_init__(self) -> None:
        if self.function not in FUNCTIONS:
            raise ConfigError(
                "function", f"unknown test function {self.function!r}; choose from {', '.join(FUNCTIONS)}"
            )
        if isinstance(self.k, (int, float)):  # a traced k (see with_k) is checked where it is made
            FUNCTIONS[self.function].check_k(float(self.k))
        if len(self.mu0) < 1:
            raise ConfigError("mu", "needs at least one coordinate")
        if any(not math.isfinite(m) for m in self.mu0):
            raise ConfigError("mu", f"must be finite (got {self.mu0})")
        if len(self.sigma0) != len(self.mu0):
            raise ConfigError("sigma", f"must have mu's length {len(self.mu0)} (got {len(self.sigma0)})")
        if any(not (math.isfinite(s) and s > 0) for s in self.sigma0):
            raise ConfigError("sigma", f"must be > 0 (got {self.sigma0})")
        if self.scale not in SCALES:
            raise ConfigError("scale", f"must be one of {', '.join(SCALES)} (got {self.scale!r})")
        if self.quadrature_panels < 8:
            raise ConfigError("quadrature_panels", f"must be >= 8 (got {self.quadrature_panels})")

    @classmethod
    def build(
        cls,
        function: str,
        k: float,
        *,
        mu: float | Sequence[float] = 1.0,
        sigma: float | Sequence[float] = 1.0,
        dim: int | None = None,
        scale: str = "sigma",
    ) -> GaussianTestFunction:
        """Validating constructor; scalar ``mu`` / ``sigma`` are repeated ``dim`` times (default: their length,
        or 1)."""
        mu = (float(mu),) if isinstance(mu, (int, float)) else tuple(float(m) for m in mu)
        sigma = (float(sigma),) if isinstance(sigma, (int, float)) else tuple(float(s) for s in sigma)
        if dim is not None:
            if dim < 1:
                raise ConfigError("dim", f"must be >= 1 (got {dim})")
            mu = mu * dim if len(mu) == 1 else mu
            sigma = sigma * dim if len(sigma) == 1 else sigma
        elif len(sigma) == 1 and len(mu) > 1:
            sigma = sigma * len(mu)
        return cls(function=function, k=float(k), mu0=mu, sigma0=sigma, scale=scale)

    def with_k(self, k: float | jax.Array) -> GaussianTestFunction:
        """The same problem with another k; ``k`` may be a jax tracer, so that one compiled function can
        evaluate a whole grid of k (``jax.vmap`` over k). Such a problem must not be used as a static
        (hashed) argument."""
        if isinstance(k, (int, float)):
            FUNCTIONS[self.function].check_k(float(k))
        return dataclasses.replace(self, k=k)

    # ------------------------------------------------------------------------------------------- sizes
    @property
    def dim(self) -> int:
        return len(self.mu0)

    @property
    def test_function(self) -> ScalarFunction:
        return FUNCTIONS[self.function]

    def init_params(self) -> GaussianParams | GaussianLogParams:
        dtype = jnp.result_type(float)
        mu = jnp.asarray(self.mu0, dtype)
        if self.scale == "sigma":
            return GaussianParams(mu=mu, sigma=jnp.asarray(self.sigma0, dtype))
        return GaussianLogParams(mu=mu, log_sigma=jnp.log(jnp.asarray(self.sigma0, dtype)))

    # ------------------------------------------------------------------------------ Gaussian structure
    def gaussian(self, params: Params) -> tuple[jax.Array, jax.Array]:
        """(mu, sigma), each (D,), differentiable in params."""
        if isinstance(params, GaussianLogParams):
            return params.mu, jnp.exp(params.log_sigma)
        return params.mu, params.sigma

    def coordinate_function(self, x: jax.Array) -> jax.Array:
        """g(x; k) elementwise (any shape)."""
        return self.test_function(x, self.k)

    def f(self, x: jax.Array) -> jax.Array:
        """f(x) = sum_d g(x_d; k): x (..., D) -> (...)."""
        return jnp.sum(self.coordinate_function(x), axis=-1)

    def gaussian_variable(self, outcome: jax.Array) -> jax.Array:
        """The Gaussian variable of a batch of outcomes: the outcome x (n, D) itself."""
        return outcome

    # -------------------------------------------------------------------------------------- sampling
    def sample_noise(self, key: jax.Array, n: int) -> jax.Array:
        """eps ~ N(0, I), shape (n, D) (drawn flat and reshaped: compiles faster on CPU than a (n, D) draw)."""
        return jax.random.normal(key, (n * self.dim,)).reshape(n, self.dim)

    def sample(self, params: Params, noise: jax.Array) -> jax.Array:
        """x = mu + sigma * eps, shape (n, D), differentiable in params (reparameterisation)."""
        mu, sigma = self.gaussian(params)
        return mu + sigma * noise

    def log_prob(self, params: Params, outcome: jax.Array) -> jax.Array:
        """log N(x; mu, diag(sigma^2)), shape (n,)."""
        mu, sigma = self.gaussian(params)
        z = (outcome - mu) / sigma
        return jnp.sum(-0.5 * z**2 - jnp.log(sigma) - 0.5 * math.log(2.0 * math.pi), axis=-1)

    def reward(self, outcome: jax.Array) -> jax.Array:
        """f(x), shape (n,)."""
        return self.f(outcome)

    # --------------------------------------------------------------------------------- exact values
    def objective(self, params: Params) -> jax.Array:
        """J = sum_d E[g(x_d)] in closed form."""
        mu, sigma = self.gaussian(params)
        return jnp.sum(self.test_function.gaussian_expectation(mu, sigma, self.k))

    def gaussian_jacobian(self, params: Params) -> tuple[Params, Params]:
        """(J_mu, J_sigma): pytrees like params with d mu_c / d param and d sigma_c / d param on the diagonal.

        Both parameterisations map each parameter coordinate to one of mu_c, sigma_c, so a per-coordinate
        quantity a_c of (mu, sigma) maps to params as J a (first order) or J^2 a (second order, variances).
        """
        mu, sigma = self.gaussian(params)
        _, vjp = jax.vjp(self.gaussian, params)
        (j_mu,) = vjp((jnp.ones_like(mu), jnp.zeros_like(sigma)))
        (j_sigma,) = vjp((jnp.zeros_like(mu), jnp.ones_like(sigma)))
        return j_mu, j_sigma

    def to_params(self, params: Params, a_mu: jax.Array, a_sigma: jax.Array, order: int = 1) -> Params:
        """Per-coordinate quantities of (mu, sigma) as a pytree like params: J^order a (see
        :meth:`gaussian_jacobian`)."""
        j_mu, j_sigma = self.gaussian_jacobian(params)
        return jax.tree.map(lambda jm, js: jm**order * a_mu + js**order * a_sigma, j_mu, j_sigma)

    def gaussian_moments(self, params: Params, coordinate_fn: CoordinateFn | None = None) -> dict[str, jax.Array]:
        """Exact per-coordinate moments in (mu, sigma) coordinates, each of shape (D,), by quadrature.

        With r = sum_d h(x_d) for the per-coordinate function h (default g; ``coordinate_fn(x)`` maps x of
        shape (K, D) to (K, D), so it may depend on the coordinate), scores psi_mu = eps / sigma,
        psi_sigma = (eps^2 - 1) / sigma, and pathwise derivatives dx/dmu = 1, dx/dsigma = eps, returns
        ``{name}_mu`` and ``{name}_sigma`` for name in
          ``psi2`` E[psi^2], ``r_psi`` E[r psi], ``r_psi2`` E[r psi^2], ``r2_psi2`` E[r^2 psi^2],
          ``dr`` E[dr/dtheta], ``dr2`` E[(dr/dtheta)^2],
        plus ``r`` (E r, scalar). Cross terms with the other coordinates T_c factorise (module docstring).
        """
        h = self.coordinate_function if coordinate_fn is None else coordinate_fn
        mu, sigma = self.gaussian(params)
        dtype = mu.dtype
        z, w = rule("normal", self.quadrature_panels, dtype)
        x = mu[None, :] + sigma[None, :] * z[:, None]  # (K, D)
        z = z[:, None]
        w = w[:, None]
        values = h(x)
        slopes = jax.grad(lambda y: jnp.sum(h(y)))(x)  # h'(x), elementwise
        expect = lambda a: jnp.sum(w * a, axis=0)  # (D,)
        mean_h = expect(values)
        var_h = expect(values**2) - mean_h**2
        mean_t = jnp.sum(mean_h) - mean_h  # E[T_c]
        second_t = (jnp.sum(var_h) - var_h) + mean_t**2  # E[T_c^2]
        out = {"r": jnp.sum(mean_h)}
        for which, psi, dx in (("mu", z / sigma, jnp.ones_like(z)), ("sigma", (z**2 - 1.0) / sigma, z)):
            psi2 = expect(psi**2)
            h_psi = expect(values * psi) + mean_t * expect(psi)
            h_psi2 = expect(values * psi**2)
            out[f"psi2_{which}"] = psi2
            out[f"r_psi_{which}"] = h_psi
            out[f"r_psi2_{which}"] = h_psi2 + mean_t * psi2
            out[f"r2_psi2_{which}"] = expect(values**2 * psi**2) + 2.0 * mean_t * h_psi2 + second_t * psi2
            out[f"dr_{which}"] = expect(slopes * dx)
            out[f"dr2_{which}"] = expect((slopes * dx) ** 2)
        return out

    def score_moments(self, params: Params, coordinate_fn: CoordinateFn | None = None) -> ScoreMoments:
        """Exact moments shaped like params (the interface of the bandit's ``score_moments``, so that the
        score-function and pathwise estimators know their exact variances here too).

        Returns ``psi2`` E[psi_c^2], ``r_psi2`` E[r psi_c^2], ``r2_psi2`` E[r^2 psi_c^2], ``dr2``
        E[(dr/dparam_c)^2], and the first moments ``r_psi`` E[r psi_c] and ``dr`` E[dr/dparam_c], for the
        parameters as they are (sigma or log sigma). ``coordinate_fn`` replaces g (see
        :meth:`gaussian_moments`). Call with 64-bit floats enabled for full accuracy.
        """
        mom = self.gaussian_moments(params, coordinate_fn)
        out = {}
        for name, order in (("psi2", 2), ("r_psi2", 2), ("r2_psi2", 2), ("dr2", 2), ("r_psi", 1), ("dr", 1)):
            out[name] = self.to_params(params, mom[f"{name}_mu"], mom[f"{name}_sigma"], order)
        return ScoreMoments(**out)

    def describe(self) -> str:
        fmt = lambda v: "(" + ", ".join(f"{x:g}" for x in v) + ")"
        k = f"{self.k:g}" if isinstance(self.k, (int, float)) else "k"
        return (
            f"x ~ N(mu, diag(sigma^2)), D = {self.dim}, f(x) = sum_d {self.test_function.text}, k = {k}, "
            f"mu = {fmt(self.mu0)}, sigma = {fmt(self.sigma0)}"
        )


def has_gaussian_structure(problem: Any) -> bool:
    """True when the problem keeps the :class:`~pgjax.problems.base.GaussianStructure` contract (needed by the
    measure-valued and delta-method estimators): the Gaussian test functions and the linear-Gaussian bandit."""
    return isinstance(problem, GaussianStructure)


def gaussian_variable(problem: GaussianStructure, outcome: Any) -> jax.Array:
    """The Gaussian variable x (n, D) of a batch of outcomes, ``problem.gaussian_variable(outcome)`` (the
    bandit: its actions, (n, 1); the test functions: the outcome itself)."""
    return problem.gaussian_variable(outcome)
