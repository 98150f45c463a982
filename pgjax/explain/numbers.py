"""Every number of the walkthrough, computed with the library (float64, fixed keys, no printing).

:func:`compute` returns a :class:`Numbers` record; :mod:`pgjax.explain.walkthrough` turns it into text and
:mod:`pgjax.explain.figure` into a figure, and ``tests/explain/test_explain.py`` checks each claim against it.

Problems. The Gaussian part is :class:`pgjax.problems.LinearGaussianBandit` with one fixed state s and one
weight theta (mu = theta s, a ~ N(mu, sigma^2)); only the theta coordinate of the gradient is reported
(sigma is held fixed in the story; the estimators also return a log sigma coordinate, which is ignored). The
discrete part is :class:`pgjax.problems.softmax_bandit.SoftmaxBandit` with its default three arms.

The wrong recipe. Averaging d pi(a)/d theta * r(a) over a ~ pi estimates

    E_pi[r dpi/dtheta] = integral pi(a)^2 r(a) psi(a) da,        psi = d log pi / d theta,

not dJ/dtheta = integral pi r psi da. For the Gaussian, pi(a)^2 = N(a; mu, sigma^2 / 2) / (2 sigma sqrt(pi)),
so the limit is a Gaussian expectation under N(mu, sigma^2 / 2), computed by Gauss-Hermite quadrature
(exact for polynomial rewards).

Keys. Every Monte Carlo number uses the engine's seed scheme, key(seed i, n) =
fold_in(fold_in(key(seed), i), n), so "seed 0 at n" means the same samples in every table (the five-sample
table is seed 0 at n = 5, the estimate pgjax's reinforce returns for that key), and different estimators at
the same (seed, n) share their samples.

Float64 throughout, so that the rounded numbers in the committed document do not depend on the CPU's
float32 rounding and the document regenerates byte for byte.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
import jax.scipy.special
import numpy as np

from pgjax.analysis import stats
from pgjax.engine import run_sweep, seed_key
from pgjax.errors import ConfigError
from pgjax.estimators import ConstantBaseline, Reinforce, draw, make_estimator
from pgjax.problems import BanditOutcome, LinearGaussianBandit, Quadratic, Reward, exact_gradient, make_reward
from pgjax.problems.quadrature import gauss_hermite
from pgjax.problems.softmax_bandit import SoftmaxBandit

#: Relative step of the finite differences of pi in theta.
FD_STEP = 1e-5
#: The claim "the ratio equals the score" is made (and checked) to this absolute tolerance.
RATIO_TOLERANCE = 1e-6
#: Standard error that the "samples needed" column aims for.
TARGET_SE = 0.1


@dataclasses.dataclass(frozen=True)
class Setup:
    """The user-facing choices (the CLI flags that change numbers)."""

    theta: float = 0.5
    sigma: float = 1.0
    state: float = 2.0
    reward: str = "quadratic"
    target: float = 2.0
    seed: int = 0
    n_seeds: int = 128

    def validate(self) -> None:
        """Raises ConfigError naming the first invalid field."""
        for field in ("theta", "sigma", "state", "target"):
            if not math.isfinite(getattr(self, field)):
                raise ConfigError(field, f"must be finite (got {getattr(self, field)})")
        if not self.sigma > 0:
            raise ConfigError("sigma", f"must be > 0 (got {self.sigma})")
        if self.state == 0:
            raise ConfigError("state", "must be nonzero (with s = 0 the weight theta has no effect)")
        make_reward(self.reward, target=self.target)  # ConfigError for an unknown name
        if self.seed < 0:
            raise ConfigError("seed", f"must be >= 0 (got {self.seed})")
        if self.n_seeds < 8:
            raise ConfigError("n_seeds", f"must be >= 8 (got {self.n_seeds})")


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Sample sizes and seed counts that are not flags (tests may shrink them)."""

    table_n: int = 5
    shortcut_ns: tuple[int, ...] = (10, 1_000, 100_000)
    convergence_ns: tuple[int, ...] = tuple(10**k for k in range(7))
    variance_seeds: int = 20_000
    black_box_n: int = 10_000
    softmax_table_n: int = 6
    softmax_n: int = 10_000
    figure_points: int = 401
    sigma_factors: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.0)  # the smallest first; 1 must be one
    two_d_n: int = 10_000


@dataclasses.dataclass(frozen=True)
class Window(Reward):
    """All-or-nothing reward r(a) = 1 if |a - center| <= half_width else 0 (slope 0 wherever it exists).

    E[r] under N(mean, var) = Phi((center + w - mean) / sd) - Phi((center - w - mean) / sd), in closed form.
    """

    center: float = 2.0
    half_width: float = 0.5
    name: ClassVar[str] = "window"
    closed_form: ClassVar[bool] = True

    def __call__(self, action):
        action = jnp.asarray(action)
        return jnp.where(jnp.abs(action - self.center) <= self.half_width, 1.0, 0.0).astype(action.dtype)

    def gaussian_expectation(self, mean, var, num_nodes: int = 64):
        sd = jnp.sqrt(var)
        upper = jax.scipy.special.ndtr((self.center + self.half_width - mean) / sd)
        lower = jax.scipy.special.ndtr((self.center - self.half_width - mean) / sd)
        return upper - lower

    def describe(self) -> str:
        return f"r(a) = 1 if |a - {self.center:g}| <= {self.half_width:g}, else 0"


@dataclasses.dataclass(frozen=True)
class DensityGradientAverage:
    """The tempting but wrong recipe: g = (1/n) sum_i r(a_i) d pi(a_i)/d params, a_i ~ pi.

    Its mean is E_pi[r grad pi] = integral pi^2 r grad log pi, not grad J = integral pi r grad log pi: the
    samples already carry one factor of pi. Same signature as every pgjax estimator.
    """

    name: ClassVar[str] = "density_gradient_average"

    def __call__(self, key, params, problem, n):
        outcome, rewards = draw(key, params, problem, n)
        return jax.grad(lambda p: jnp.mean(rewards * jnp.exp(problem.log_prob(p, outcome))))(params)


@dataclasses.dataclass(frozen=True)
class ScoreAverage:
    """The average score g = (1/n) sum_i grad log pi(a_i), a_i ~ pi: an estimator of E_pi[psi] = 0.

    Not a gradient estimator: it measures, with the engine's keys, that the score averages to zero
    (the identity behind every baseline: integral grad pi da = grad integral pi da = grad 1 = 0). Same
    signature as every pgjax estimator.
    """

    name: ClassVar[str] = "score_average"

    def __call__(self, key, params, problem, n):
        outcome, _ = draw(key, params, problem, n)
        return jax.grad(lambda p: jnp.mean(problem.log_prob(p, outcome)))(params)


# ----------------------------------------------------------------------------------------- records
@dataclasses.dataclass(frozen=True)
class Across:
    """One n-sample estimate (seed 0) and the spread of R of them (seeds 0..R-1). Arrays for vectors."""

    n: int
    estimate: float | np.ndarray  # seed 0
    se: float | np.ndarray  # standard deviation of the R estimates: the standard error of one estimate
    mean: float | np.ndarray  # mean of the R estimates
    se_mean: float | np.ndarray  # se / sqrt(R)
    samples: np.ndarray  # (R,) or (R, P): all R estimates


@dataclasses.dataclass(frozen=True)
class SampleRow:
    action: float
    density: float
    density_slope_fd: float  # d pi / d theta by central differences
    ratio: float  # density_slope_fd / density
    score: float  # (a - mu) s / sigma^2
    reward: float
    term: float  # reward * score


@dataclasses.dataclass(frozen=True)
class VarianceRow:
    key: str  # estimator key
    baseline: float | None
    exact: float  # single-sample variance, exact
    measured: float
    measured_lo: float
    measured_hi: float
    ratio_exact: float  # exact / exact of plain REINFORCE
    ratio: float  # paired measured ratio to plain REINFORCE
    ratio_lo: float
    ratio_hi: float
    samples: np.ndarray  # (R_var,) single-sample estimates


@dataclasses.dataclass(frozen=True)
class SoftmaxRow:
    arm: int
    reward: float
    score: np.ndarray  # (K,)
    term: np.ndarray  # (K,)


@dataclasses.dataclass(frozen=True)
class ScoreRow:
    """One coordinate of the score, measured on single samples (n = 1) over many seeds."""

    coordinate: str  # "theta" or "log_sigma"
    mean_exact: float  # E[psi] by the problem's Gauss-Hermite quadrature: 0
    mean: float
    mean_se: float
    variance_exact: float  # E[psi^2] from the problem's score_moments (psi2)
    variance: float
    variance_lo: float
    variance_hi: float
    samples: np.ndarray


@dataclasses.dataclass(frozen=True)
class SigmaRow:
    """Exact single-sample variances at one sigma (theta and s unchanged): no baseline and b = J(sigma)."""

    sigma: float
    objective: float
    grad_theta: float
    grad_log_sigma: float
    var_theta: float  # Var[r psi_theta]
    var_theta_baseline: float  # Var[(r - J) psi_theta]
    var_log_sigma: float  # Var[r psi_log_sigma]
    var_log_sigma_baseline: float  # Var[(r - J) psi_log_sigma]


@dataclasses.dataclass(frozen=True)
class LogSigma:
    """Section 7: the log sigma coordinate of the same estimates."""

    grad: float  # exact dJ/dlog sigma
    scores: tuple[ScoreRow, ...]  # theta, log_sigma
    convergence: tuple[Across, ...]  # the log sigma coordinate of section 4's estimates, every other n from 100
    single_variance: float  # exact Var[r psi_log_sigma]
    variance: tuple[VarianceRow, ...]  # reinforce and mean_reward_baseline, log sigma coordinate
    sigma_rows: tuple[SigmaRow, ...]


@dataclasses.dataclass(frozen=True)
class TwoD:
    """Section 8: the state s = (s1, s2) with theta = (theta, 0), so mu = theta s1 as before."""

    state: tuple[float, float]
    theta: tuple[float, float]
    grad: np.ndarray  # (3,): dJ/dtheta1, dJ/dtheta2, dJ/dlog sigma, exact
    single_variance: np.ndarray  # (3,): exact Var of one term r psi per coordinate
    estimate: Across  # reinforce at n = two_d_n, all three coordinates
    correlation: float  # of the theta1 and theta2 estimates over the R seeds
    max_ratio_gap: float  # max over seeds of |g_theta2 - (s2 / s1) g_theta1|


@dataclasses.dataclass(frozen=True)
class Numbers:
    setup: Setup
    sizes: Sizes
    # 1. the set-up
    mu: float
    objective: float
    grad: float  # exact dJ/dtheta
    best_theta: float | None  # for the quadratic reward
    reward_text: str
    # 2. the wrong recipe
    grid_integral: float  # integral of dpi/dtheta r on a grid
    shortcut_limit: float  # exact E_pi[r dpi/dtheta]
    shortcut: tuple[Across, ...]
    # 3. the five-sample table
    fd_step: float
    rows: tuple[SampleRow, ...]
    table_average: float
    reinforce_same_key: float
    # 4. convergence
    single_variance: float  # exact Var[r psi] for one sample
    convergence: tuple[Across, ...]
    # 5a. black-box reward
    window: Window
    window_grad: float
    black_box: dict[str, Across]
    # 5b. softmax bandit
    softmax: SoftmaxBandit
    softmax_probs: np.ndarray
    softmax_objective: float
    softmax_grad: np.ndarray
    softmax_rows: tuple[SoftmaxRow, ...]
    softmax_table_average: np.ndarray
    softmax_reinforce_same_key: np.ndarray
    softmax_estimate: Across
    softmax_single_variance: np.ndarray
    # 6. variance
    variance: tuple[VarianceRow, ...]
    # 7. the log sigma score
    log_sigma: LogSigma
    # 8. a two-dimensional state
    two_d: TwoD
    # figure curves
    curve_action: np.ndarray
    curve_density: np.ndarray
    curve_score: np.ndarray
    curve_reward: np.ndarray
    curve_product: np.ndarray


VARIANCE_ESTIMATORS = ("reinforce", "mean_reward_baseline", "optimal_baseline_exact", "pathwise")


# ---------------------------------------------------------------------------------------- helpers
def _theta(tree) -> float:
    return float(np.asarray(tree.theta).reshape(-1)[0])


def _across(estimates: np.ndarray, n: int, column: int | slice) -> Across:
    x = np.asarray(estimates, dtype=np.float64)[:, column]
    r = x.shape[0]
    se = np.std(x, axis=0, ddof=1)
    return Across(
        n=n,
        estimate=x[0] if x.ndim == 1 else x[0].copy(),
        se=se,
        mean=np.mean(x, axis=0),
        se_mean=se / math.sqrt(r),
        samples=x,
    )


def _scalarise(a: Across) -> Across:
    return dataclasses.replace(
        a, estimate=float(a.estimate), se=float(a.se), mean=float(a.mean), se_mean=float(a.se_mean)
    )


def _outcome(problem: LinearGaussianBandit, actions) -> BanditOutcome:
    return BanditOutcome(state=jnp.asarray(problem.state_mean), action=jnp.asarray(actions))


@functools.partial(jax.jit, static_argnums=(0, 2))
def _shortcut_limit(problem: LinearGaussianBandit, params, num_nodes: int) -> jax.Array:
    mu, var = problem.action_moments(params)
    nodes, weights = gauss_hermite(num_nodes)
    actions = mu + jnp.sqrt(var / 2.0) * jnp.asarray(nodes)
    outcome = _outcome(problem, actions)
    psi = jax.jacfwd(problem.log_prob)(params, outcome).theta[:, 0]
    return jnp.sum(jnp.asarray(weights) * problem.reward(outcome) * psi) / (2.0 * jnp.sqrt(var * jnp.pi))


def shortcut_limit(problem: LinearGaussianBandit, params, num_nodes: int = 64) -> float:
    """E_pi[r dpi/dtheta] exactly: integral pi^2 r psi da = E_{N(mu, sigma^2/2)}[r psi] / (2 sigma sqrt(pi))."""
    return float(_shortcut_limit(problem, params, num_nodes))


@functools.partial(jax.jit, static_argnums=(0, 2))
def _grid_curves(problem: LinearGaussianBandit, params, points: int):
    """(actions, pi, dpi/dtheta, r) on mu +- 12 sigma, one compiled call."""
    mu, var = problem.action_moments(params)
    actions = mu + jnp.sqrt(var) * jnp.linspace(-12.0, 12.0, points)
    outcome = _outcome(problem, actions)
    density = jnp.exp(problem.log_prob(params, outcome))
    slope = jax.jacfwd(lambda p: jnp.exp(problem.log_prob(p, outcome)))(params).theta[:, 0]
    return actions, density, slope, problem.reward(outcome)


def grid_integrals(problem: LinearGaussianBandit, params, points: int = 4801) -> tuple[float, float]:
    """(integral dpi/dtheta r da, integral pi dpi/dtheta r da) by the trapezoid rule on mu +- 12 sigma."""
    actions, density, slope, reward = (np.asarray(x) for x in _grid_curves(problem, params, points))
    return (
        float(np.trapezoid(slope * reward, actions)),
        float(np.trapezoid(density * slope * reward, actions)),
    )


@functools.partial(jax.jit, static_argnums=(0, 3))
def _nudged_densities(problem: LinearGaussianBandit, params, key, n: int, step):
    """n draws with ``key``, their rewards, pi(a) and the central difference (pi(theta + h) - pi(theta - h)) / 2h."""
    outcome, rewards = draw(key, params, problem, n)
    density = jnp.exp(problem.log_prob(params, outcome))
    up = jnp.exp(problem.log_prob(params.replace(theta=params.theta + step), outcome))
    down = jnp.exp(problem.log_prob(params.replace(theta=params.theta - step), outcome))
    return outcome, rewards, density, (up - down) / (2.0 * step)


def sample_table(problem: LinearGaussianBandit, params, key, n: int) -> tuple[tuple[SampleRow, ...], float]:
    """The multiply-by-one table for the n samples drawn with ``key``, and the finite-difference step."""
    theta = params.theta
    step = FD_STEP * max(1.0, abs(float(theta[0])))
    outcome, rewards, density, slope = _nudged_densities(problem, params, key, n, step)
    s = float(problem.state_mean[0])
    mu = s * float(theta[0])
    sigma = float(jnp.exp(params.log_sigma))
    rows = []
    for a, p, dp, r in zip(*(np.asarray(x, dtype=np.float64) for x in (outcome.action, density, slope, rewards))):
        score = (a - mu) * s / sigma**2
        rows.append(SampleRow(float(a), float(p), float(dp), float(dp / p), float(score), float(r), float(r * score)))
    return tuple(rows), step


@functools.partial(jax.jit, static_argnums=(0, 2))
def _score_mean_exact(problem: LinearGaussianBandit, params, num_nodes: int):
    mu, var = problem.action_moments(params)
    nodes, weights = gauss_hermite(num_nodes)
    outcome = _outcome(problem, mu + jnp.sqrt(var) * jnp.asarray(nodes))
    psi = jax.jacfwd(problem.log_prob)(params, outcome)
    w = jnp.asarray(weights)
    return jnp.sum(w * psi.theta[:, 0]), jnp.sum(w * psi.log_sigma)


def score_mean_exact(problem: LinearGaussianBandit, params, num_nodes: int = 64) -> tuple[float, float]:
    """(E[psi_theta], E[psi_log_sigma]) by Gauss-Hermite quadrature of the autodiff score (exact: the score is a
    polynomial of degree <= 2 in eps = (a - mu) / sigma)."""
    theta, log_sigma = _score_mean_exact(problem, params, num_nodes)
    return float(theta), float(log_sigma)


def _exact_moments(problem: LinearGaussianBandit, params):
    """(J, grad J, Var[r psi], Var[(r - J) psi]) per coordinate, from the exact score moments (eagerly: the
    operations are those of section 6, already compiled, so this is faster than a jit of its own)."""
    objective = float(problem.objective(params))
    grad = exact_gradient(problem, params)
    plain = Reinforce().single_sample_variance(problem, params)
    based = ConstantBaseline(baseline=objective).single_sample_variance(problem, params)
    return objective, grad, plain, based


def sigma_scan(problem: LinearGaussianBandit, params, sigma0: float, factors) -> tuple[SigmaRow, ...]:
    """Exact single-sample variances of the theta and log sigma coordinates at sigma = factor * sigma0."""
    rows = []
    for factor in factors:
        sigma = sigma0 * factor if factor != 1 else sigma0
        p = params.replace(log_sigma=params.log_sigma if factor == 1 else jnp.log(jnp.asarray(sigma)))
        objective, grad, plain, based = _exact_moments(problem, p)
        rows.append(
            SigmaRow(
                sigma=sigma,
                objective=objective,
                grad_theta=_theta(grad),
                grad_log_sigma=float(grad.log_sigma),
                var_theta=_theta(plain),
                var_theta_baseline=_theta(based),
                var_log_sigma=float(plain.log_sigma),
                var_log_sigma_baseline=float(based.log_sigma),
            )
        )
    return tuple(rows)


def _variance_row(key, x, plain, exact, plain_exact, baseline) -> VarianceRow:
    var, lo, hi = stats.variance_ci(x, 0.95)
    ratio, r_lo, r_hi = stats.variance_ratio_ci(x, plain, 0.95)
    return VarianceRow(
        key,
        baseline,
        exact,
        float(var),
        float(lo),
        float(hi),
        exact / plain_exact,
        float(ratio),
        float(r_lo),
        float(r_hi),
        x,
    )


@functools.partial(jax.jit, static_argnums=0)
def _gradient_and_variance(problem: LinearGaussianBandit, params):
    """(grad J, Var[r psi]) per coordinate, exactly, in one compiled call."""
    return jax.grad(problem.objective)(params), Reinforce().single_sample_variance(problem, params)


def two_d(setup: Setup, reward: Reward, sizes: Sizes) -> TwoD:
    """Section 8: s = (s, s / 2), theta = (theta, 0); exact gradient and variances, and reinforce over R seeds."""
    state = (setup.state, setup.state / 2)
    theta = (setup.theta, 0.0)
    problem = LinearGaussianBandit.build(state=list(state), theta=list(theta), sigma=setup.sigma, reward=reward)
    params = problem.init_params()
    flat = lambda tree: np.concatenate([np.ravel(np.asarray(x, dtype=np.float64)) for x in jax.tree.leaves(tree)])
    grad, single = (flat(x) for x in _gradient_and_variance(problem, params))
    sweep = run_sweep(problem, params, {"reinforce": Reinforce()}, [sizes.two_d_n], setup.n_seeds, seed=setup.seed)
    estimate = _across(sweep.estimates["reinforce"][sizes.two_d_n], sizes.two_d_n, slice(None))
    x = estimate.samples
    return TwoD(
        state=state,
        theta=theta,
        grad=grad,
        single_variance=single,
        estimate=estimate,
        correlation=float(np.corrcoef(x[:, 0], x[:, 1])[0, 1]),
        max_ratio_gap=float(np.max(np.abs(x[:, 1] - state[1] / state[0] * x[:, 0]))),
    )


def check_ratio_claim(rows) -> None:
    """The walkthrough says the ratio equals the score to RATIO_TOLERANCE; make sure it does."""
    gap = max(abs(row.ratio - row.score) for row in rows)
    if not gap < RATIO_TOLERANCE:  # pragma: no cover - would be a bug in the problem or in jax
        raise AssertionError(f"finite-difference ratio differs from the score by {gap}")


# ---------------------------------------------------------------------------------------- compute
def compute(setup: Setup = Setup(), sizes: Sizes = Sizes()) -> Numbers:
    """All numbers of the walkthrough (about 20 s on two CPU cores, most of it compilation)."""
    setup.validate()
    with jax.enable_x64(True):
        return _compute(setup, sizes)


def _compute(setup: Setup, sizes: Sizes) -> Numbers:
    R = setup.n_seeds
    reward = make_reward(setup.reward, target=setup.target)
    problem = LinearGaussianBandit.build(state=[setup.state], theta=[setup.theta], sigma=setup.sigma, reward=reward)
    params = problem.init_params()
    base_key = jax.random.key(setup.seed)
    grad = _theta(exact_gradient(problem, params))
    mu = setup.theta * setup.state
    best_theta = setup.target / setup.state if isinstance(reward, Quadratic) else None

    # 2. the wrong recipe and the right integral.
    grid, _ = grid_integrals(problem, params)
    limit = shortcut_limit(problem, params)

    # 3. the sample table: seed 0 at n = table_n, exactly what the engine and reinforce use.
    key = seed_key(base_key, 0, sizes.table_n)
    rows, step = sample_table(problem, params, key, sizes.table_n)
    check_ratio_claim(rows)
    reinforce_same_key = _theta(Reinforce()(key, params, problem, sizes.table_n))

    # 2 + 4. one sweep per estimator over the seeds; shared keys, so the shortcut and REINFORCE see the same
    # samples at the same (seed, n).
    sweep = run_sweep(problem, params, {"reinforce": Reinforce()}, sizes.convergence_ns, R, seed=setup.seed)
    convergence = tuple(_scalarise(_across(sweep.estimates["reinforce"][n], n, 0)) for n in sizes.convergence_ns)
    shortcut_sweep = run_sweep(
        problem, params, {"shortcut": DensityGradientAverage()}, sizes.shortcut_ns, R, seed=setup.seed
    )
    shortcut = tuple(_scalarise(_across(shortcut_sweep.estimates["shortcut"][n], n, 0)) for n in sizes.shortcut_ns)
    single_variance = _theta(Reinforce().single_sample_variance(problem, params))

    # 5a. the all-or-nothing reward.
    window = Window(center=setup.target, half_width=0.5 * setup.sigma)
    window_problem = dataclasses.replace(problem, reward_function=window)
    window_grad = _theta(exact_gradient(window_problem, params))
    bb = run_sweep(
        window_problem,
        params,
        {"reinforce": Reinforce(), "pathwise": make_estimator("pathwise")},
        [sizes.black_box_n],
        R,
        seed=setup.seed,
        fuse=True,  # one program (the same numbers: tests/explain/test_explain.py checks the committed page)
    )
    black_box = {
        name: _scalarise(_across(by_n[sizes.black_box_n], sizes.black_box_n, 0)) for name, by_n in bb.estimates.items()
    }

    # 5b. the softmax bandit.
    softmax = SoftmaxBandit()
    sm_params = softmax.init_params()
    probs = np.asarray(softmax.probabilities(sm_params), dtype=np.float64)
    sm_key = seed_key(base_key, 0, sizes.softmax_table_n)
    sm_outcome, sm_rewards = draw(sm_key, sm_params, softmax, sizes.softmax_table_n)
    scores = np.asarray(softmax.scores(sm_params))
    sm_rows = tuple(
        SoftmaxRow(arm=int(k), reward=float(r), score=scores[int(k)], term=float(r) * scores[int(k)])
        for k, r in zip(np.asarray(sm_outcome.arm), np.asarray(sm_rewards))
    )
    sm_sweep = run_sweep(softmax, sm_params, {"reinforce": Reinforce()}, [sizes.softmax_n], R, seed=setup.seed)

    # 6. variance of one-sample estimates, exact and measured on shared samples (the score average rides
    # along for section 7: same keys, so it is the score of the very samples behind the other estimates).
    objective = float(problem.objective(params))
    estimators = {
        "reinforce": Reinforce(),
        "mean_reward_baseline": make_estimator("constant_baseline", baseline=objective),
        "optimal_baseline_exact": make_estimator("optimal_baseline_exact"),
        "pathwise": make_estimator("pathwise"),
    }
    var_sweep = run_sweep(
        problem, params, {**estimators, "score": ScoreAverage()}, [1], sizes.variance_seeds, seed=setup.seed, fuse=True
    )
    single = {name: est.single_sample_variance(problem, params) for name, est in estimators.items()}
    plain = np.asarray(var_sweep.estimates["reinforce"][1][:, 0], dtype=np.float64)
    plain_exact = _theta(single["reinforce"])
    variance = []
    for name, estimator in estimators.items():
        x = np.asarray(var_sweep.estimates[name][1][:, 0], dtype=np.float64)
        if name == "mean_reward_baseline":
            baseline = objective
        elif name == "optimal_baseline_exact":
            baseline = _theta(estimator.baseline(problem, params))
        else:
            baseline = None
        variance.append(_variance_row(name, x, plain, _theta(single[name]), plain_exact, baseline))

    # 7. the log sigma coordinate: the same sweeps' second column.
    column = lambda name: np.asarray(var_sweep.estimates[name][1][:, 1], dtype=np.float64)
    ls_plain_exact = float(single["reinforce"].log_sigma)
    ls_variance = tuple(
        _variance_row(name, column(name), column("reinforce"), float(single[name].log_sigma), ls_plain_exact, b)
        for name, b in (("reinforce", None), ("mean_reward_baseline", objective))
    )
    psi2 = problem.score_moments(params).psi2
    means = score_mean_exact(problem, params)
    scores = []
    for j, (coordinate, exact_var) in enumerate((("theta", _theta(psi2)), ("log_sigma", float(psi2.log_sigma)))):
        x = np.asarray(var_sweep.estimates["score"][1][:, j], dtype=np.float64)
        var, lo, hi = stats.variance_ci(x, 0.95)
        scores.append(
            ScoreRow(
                coordinate,
                means[j],
                float(np.mean(x)),
                float(np.std(x, ddof=1) / math.sqrt(len(x))),
                exact_var,
                float(var),
                float(lo),
                float(hi),
                x,
            )
        )
    log_sigma = LogSigma(
        grad=float(exact_gradient(problem, params).log_sigma),
        scores=tuple(scores),
        convergence=tuple(
            _scalarise(_across(sweep.estimates["reinforce"][n], n, 1)) for n in sizes.convergence_ns[2::2]
        ),
        single_variance=ls_plain_exact,
        variance=ls_variance,
        sigma_rows=sigma_scan(
            problem, params, setup.sigma, sizes.sigma_factors
        ),  # sizes.sigma_factors[0] is the smallest
    )

    # Figure curves.
    actions = mu + setup.sigma * jnp.linspace(-3.5, 3.5, sizes.figure_points)
    outcome = _outcome(problem, actions)
    density = jnp.exp(problem.log_prob(params, outcome))
    score = jax.jacfwd(problem.log_prob)(params, outcome).theta[:, 0]
    curve_reward = problem.reward(outcome)

    return Numbers(
        setup=setup,
        sizes=sizes,
        mu=mu,
        objective=objective,
        grad=grad,
        best_theta=best_theta,
        reward_text=reward.describe().removeprefix("r(a) = ").replace("^2", "²"),
        grid_integral=grid,
        shortcut_limit=limit,
        shortcut=shortcut,
        fd_step=step,
        rows=rows,
        table_average=float(np.mean([row.term for row in rows])),
        reinforce_same_key=reinforce_same_key,
        single_variance=single_variance,
        convergence=convergence,
        window=window,
        window_grad=window_grad,
        black_box=black_box,
        softmax=softmax,
        softmax_probs=probs,
        softmax_objective=float(softmax.objective(sm_params)),
        softmax_grad=np.asarray(exact_gradient(softmax, sm_params).logits, dtype=np.float64),
        softmax_rows=sm_rows,
        softmax_table_average=np.mean([row.term for row in sm_rows], axis=0),
        softmax_reinforce_same_key=np.asarray(
            Reinforce()(sm_key, sm_params, softmax, sizes.softmax_table_n).logits, dtype=np.float64
        ),
        softmax_estimate=_across(sm_sweep.estimates["reinforce"][sizes.softmax_n], sizes.softmax_n, slice(None)),
        softmax_single_variance=np.asarray(
            Reinforce().single_sample_variance(softmax, sm_params).logits, dtype=np.float64
        ),
        variance=tuple(variance),
        log_sigma=log_sigma,
        two_d=two_d(setup, reward, sizes),
        curve_action=np.asarray(actions, dtype=np.float64),
        curve_density=np.asarray(density, dtype=np.float64),
        curve_score=np.asarray(score, dtype=np.float64),
        curve_reward=np.asarray(curve_reward, dtype=np.float64),
        curve_product=np.asarray(density * score * curve_reward, dtype=np.float64),
    )
