"""Parameter-exploring policy gradients (PGPE; Sehnke et al. 2010) on LQR: variance against n.

The noise is in the gain, not the actions: each episode draws K' = K_mean + sigma_K xi once and runs the
deterministic policy u = K' x. The objective is the smoothed return J(K_mean, sigma_K) = E[J_det(K')],
computed EXACTLY by Gauss-Hermite quadrature (J_det is a polynomial of degree 2H in K'); its gradient is the
truth. Estimators: REINFORCE on the episode's score, leave-one-out, Sehnke et al.'s symmetric sampling
(pairs K_mean +- sigma_K xi) and pathwise (through K' and the rollout). It is a different objective from the
action-noise one of lqr-variance (a deterministic policy smoothed over gains), so its gradients are not
comparable coordinate by coordinate; what compares is how the variance of each estimator falls with n.
"""

from __future__ import annotations

import dataclasses
import math

from pgjax.engine import run_sweep
from pgjax.errors import ConfigError
from pgjax.estimators import LeaveOneOutBaseline, Pathwise, Reinforce
from pgjax.estimators.trajectory import SymmetricPGPE
from pgjax.experiment import ExperimentResult, Hooks, save_with, summarise_sweep
from pgjax.plotting import settings as plot_settings
from pgjax.problems.lqr import SYSTEMS, ParameterExploringLQR, make_system

NAME = "lqr-pgpe"

ESTIMATORS = {
    "reinforce": Reinforce,
    "leave_one_out": LeaveOneOutBaseline,
    "pgpe_symmetric": SymmetricPGPE,
    "pathwise": Pathwise,
}


@dataclasses.dataclass(frozen=True)
class Config:
    """Variance of parameter-exploring (PGPE) gradient estimators against n on LQR: noise in the gain K
    instead of the actions, against the exact gradient of the smoothed return."""

    system: str = "double_integrator"
    """System: double_integrator (2 states, 1 action) or scalar."""
    horizon: int = 10
    """Horizon H (>= 1); the exact objective costs (H + 1)^(a m) quadrature points."""
    gain: tuple[float, ...] = (-0.6, -1.2)
    """Mean gain K_mean (length m)."""
    sigma_k: tuple[float, ...] = (0.2, 0.3)
    """Std of each gain entry (one number, or one per entry; each > 0)."""
    x0: tuple[float, ...] = (1.0, 0.0)
    """Mean of the initial state (length m)."""
    x0_std: float = 0.2
    """Std of each initial-state coordinate (>= 0)."""
    process_std: float = 0.05
    """Std of the process noise per coordinate (>= 0)."""
    discount: float = 1.0
    """Discount gamma in (0, 1]."""
    estimators: tuple[str, ...] = tuple(ESTIMATORS)
    """Estimators to compare (reinforce is the reference of the variance ratios)."""
    ns: tuple[int, ...] = (2, 8, 32, 128)
    """Episodes per estimate (each even and >= 2: symmetric sampling uses pairs)."""
    n_seeds: int = 2000
    """Seeds R (>= 2)."""
    seed: int = 0
    """Base seed of the per-seed keys."""
    chunk_size: int = 1000
    """Seeds per host-side chunk (>= 1)."""

    def validate(self) -> None:
        """Raises ConfigError naming the first invalid field."""
        if self.system not in SYSTEMS:
            raise ConfigError("system", f"unknown system {self.system!r}; choose from {', '.join(SYSTEMS)}")
        if not self.estimators or any(e not in ESTIMATORS for e in self.estimators):
            raise ConfigError("estimators", f"choose one or more of {', '.join(ESTIMATORS)} (got {self.estimators})")
        if len(set(self.estimators)) != len(self.estimators):
            raise ConfigError("estimators", "lists an estimator twice")
        if not self.ns or any(n < 2 or n % 2 for n in self.ns):
            raise ConfigError("ns", f"every n must be even and >= 2 (got {self.ns})")
        if self.n_seeds < 2:
            raise ConfigError("n_seeds", f"must be >= 2 (got {self.n_seeds})")
        if self.chunk_size < 1:
            raise ConfigError("chunk_size", f"must be >= 1 (got {self.chunk_size})")
        if any(not (math.isfinite(s) and s > 0) for s in self.sigma_k):
            raise ConfigError("sigma_k", f"every std must be > 0 (got {self.sigma_k})")
        problem(self)


def problem(config: Config) -> ParameterExploringLQR:
    base = make_system(
        config.system,
        horizon=config.horizon,
        gain=config.gain,
        sigma=1.0,
        x0=config.x0,
        x0_std=config.x0_std,
        process_std=config.process_std,
        discount=config.discount,
    )
    return ParameterExploringLQR(base=base, sigma_K0=tuple(float(s) for s in config.sigma_k))


def run(config: Config = Config(), *, progress=None, execution: dict | None = None) -> ExperimentResult:
    """One fused sweep of the PGPE estimators (nothing is written; see :func:`save`)."""
    config.validate()
    pgpe = problem(config)
    params = pgpe.init_params()
    estimators = {name: ESTIMATORS[name]() for name in config.estimators}
    sweep = run_sweep(
        pgpe,
        params,
        estimators,
        sorted(set(config.ns)),
        config.n_seeds,
        seed=config.seed,
        chunk_size=config.chunk_size,
        fuse=True,
        progress=progress,
        **(execution or {}),
    )
    table = summarise_sweep(
        sweep,
        experiment=NAME,
        problem_name=pgpe.describe(),
        reference="reinforce" if "reinforce" in estimators else None,
    )
    return ExperimentResult(
        experiment=NAME,
        config=config,
        problem=pgpe.describe(),
        table=table,
        sweep=sweep,
        info={
            "objective": "E over K' = K_mean + sigma_K xi of the deterministic return, exact by "
            f"{pgpe.quadrature_nodes}-node tensor Gauss-Hermite quadrature",
        },
    )


def draw(folder):
    """Redraws the figures (``pgjax plot`` calls this): variance against n and the standardised bias."""
    return plot_settings.draw_variance(folder)


def save(result: ExperimentResult, out_dir, *, argv=None):
    """Writes the results folder with this experiment's figures (``pgjax run`` calls this)."""
    return save_with(draw, result, out_dir, argv=argv)


def total_work(config: Config) -> int:
    return config.n_seeds


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks).
HOOKS = Hooks(total_work=total_work, save=save, draw=draw)
