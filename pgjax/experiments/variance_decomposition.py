"""The state / action / trajectory variance decomposition (Tucker et al., 2018) on gymnax environments.

Tucker, Bhupatiraju, Gu, Turner, Ghahramani and Levine (2018), "The Mirage of Action-Dependent Baselines in
Reinforcement Learning", Eq. (4), measured by branching on CartPole-v1 (default) or Pendulum-v1
(``--env pendulum``), at an initial and a trained policy snapshot. For the single-step estimate of the
gradient at time t,

    g_t = alive_t grad log pi(a_t | x_t) (Rhat_t - b),   Rhat_t = sum_{j >= 0} gamma^j r_{t+j}  (to the horizon),

each seed runs ``n`` episodes and saves the environment state at every branch time t in ``times``; from each
saved state it draws ``actions`` actions and, for each, ``continuations`` continuations (gymnax ``step_env``
on a copy of the saved state, then the policy to the horizon), all vmapped. The balanced nested analysis of
variance (:func:`pgjax.estimators.variance_decomposition.nested_components`) gives per-seed unbiased
estimates of Sigma_s, Sigma_a and Sigma_tau (traces over the policy's parameters), for b = 0 and for b = the
snapshot's critic V(x_t) (fitted to the snapshot's policy, as ``cartpole-variance`` trains it). Sigma_s and Sigma_tau do not
depend on b; an action-dependent baseline equal to Q(s, a) would remove Sigma_a entirely (Sigma_a^Q = 0), so
Sigma_a^V is the most that it can remove beyond the critic, against Sigma_tau, which no baseline touches.

Snapshots: the policy (and critic) of training run 0 after 0 and ``train_updates`` updates (GAE, as
:mod:`pgjax.experiments.cartpole_variance` trains them, by :class:`pgjax.training.Trainer`; :func:`snapshots`). Table ``terms``: per
snapshot, t and term, the mean over seeds with its 95% interval (mean +- 1.96 se).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.flatten_util import ravel_pytree

from pgjax import io as pio
from pgjax.analysis import stats
from pgjax.engine import run_sweep
from pgjax.errors import ConfigError
from pgjax.estimators.variance_decomposition import nested_components
from pgjax.experiment import ExperimentResult, Hooks, check_seeds
from pgjax.problems.environment import EnvironmentProblem
from pgjax.training import Trainer, TrainSetup, run_key
from pgjax.tree_util import vary_like

NAME = "variance-decomposition"
#: The terms, in the table's order.
TERMS = ("sigma_s", "sigma_a_none", "sigma_a_value", "sigma_tau", "total_none", "total_value")
DEFAULT_POLICY = {"cartpole": "linear-softmax", "pendulum": "linear-gaussian"}


@dataclasses.dataclass(frozen=True)
class Config:
    """State / action / trajectory variance terms of the policy gradient on a gymnax environment, by
    branching saved environment states, at an initial and a trained snapshot."""

    env: str = "cartpole"
    """Environment: cartpole or pendulum, or with pgjax[brax] hopper, halfcheetah or inverted-pendulum."""
    policy: str = ""
    """Policy (default: linear-softmax on cartpole, linear-gaussian on the others)."""
    horizon: int = 100
    """Steps per episode (the returns run to this horizon)."""
    discount: float = 0.99
    """Discount gamma in (0, 1]."""
    times: tuple[int, ...] = (0, 10, 25, 50, 75, 90)
    """Branch times t (each in [0, horizon))."""
    train_updates: int = 30
    """Updates of the trained snapshot (GAE, training run 0; the initial snapshot has 0)."""
    train_episodes: int = 8
    """Episodes per training update."""
    train_learning_rate: float = 0.05
    """Adam learning rate of the training."""
    states: int = 2
    """Episodes (states per branch time) per seed (>= 2)."""
    actions: int = 4
    """Actions per saved state (>= 2)."""
    continuations: int = 4
    """Continuations per (state, action) (>= 2)."""
    n_seeds: int = 128
    """Seeds R per snapshot (>= 2)."""
    seed: int = 0
    """Base seed (training and sweep keys)."""
    chunk_size: int = 1000
    """Seeds per host-side chunk; never changes a number."""

    @property
    def policy_name(self) -> str:
        return self.policy or DEFAULT_POLICY.get(self.env, "linear-gaussian")

    def validate(self) -> None:
        """Raises ConfigError naming the first invalid field."""
        from pgjax.brax_envs import BRAX_ENVIRONMENTS, is_brax_name

        if self.env not in DEFAULT_POLICY and not is_brax_name(self.env):
            names = ", ".join([*DEFAULT_POLICY, *BRAX_ENVIRONMENTS])
            raise ConfigError("env", f"choose from {names} (got {self.env!r})")
        if self.horizon < 2:
            raise ConfigError("horizon", f"must be >= 2 (got {self.horizon})")
        if not (0.0 < self.discount <= 1.0):
            raise ConfigError("discount", f"must be in (0, 1] (got {self.discount})")
        if not self.times or min(self.times) < 0 or max(self.times) >= self.horizon:
            raise ConfigError("times", f"each must be in [0, horizon) (got {self.times})")
        if len(set(self.times)) != len(self.times):
            raise ConfigError("times", "lists a time twice")
        if self.train_updates < 1:
            raise ConfigError("train_updates", f"must be >= 1 (got {self.train_updates})")
        for field in ("states", "actions", "continuations"):
            if getattr(self, field) < 2:
                raise ConfigError(field, f"must be >= 2 (got {getattr(self, field)})")
        check_seeds(self.n_seeds, self.chunk_size)
        if self.n_seeds < 2:
            raise ConfigError("n_seeds", f"must be >= 2 (got {self.n_seeds})")
        self.train_setup().validate()

    def train_setup(self) -> TrainSetup:
        return TrainSetup(
            env=self.env,
            policy=self.policy_name,
            estimator="gae",
            episodes=self.train_episodes,
            horizon=self.horizon,
            discount=self.discount,
            lam=0.95,
            critic_hidden=(32,),
            critic_learning_rate=1e-2,
            critic_epochs=4,
            value_scale=100.0,
            updates=self.train_updates,
            log_every=1,
        )


def _episode_states(problem: EnvironmentProblem, params, key, times):
    """One episode (the rollout of :func:`pgjax.envs.rollout`, same keys) with its environment state, policy
    input and alive flag saved at each branch time: (states, inputs (len(times), D), alive (len(times),))."""
    from pgjax.envs import reset_key, step_keys

    environment, policy = problem.environment, problem.policy
    env, env_params = environment.env, environment.env_params
    obs0, state0 = env.reset_env(reset_key(key), env_params)
    _, step_state, _, _, _ = jax.eval_shape(
        lambda k, s: env.step_env(k, s, policy.sample(params, k, policy.inputs(obs0, obs0)), env_params),
        jax.random.key(0),
        state0,
    )
    state0 = jax.tree.map(lambda x, s: jnp.asarray(x).astype(s.dtype), state0, step_state)
    obs0 = jnp.asarray(obs0)

    def step(carry, t):
        state, obs, prev_obs, alive = carry
        action_key, env_key = step_keys(key, t)
        x = policy.inputs(obs, prev_obs)
        action = policy.sample(params, action_key, x)
        nxt = _transition(env, env_params, env_key, state, obs, action, alive)
        return (nxt[0], nxt[1], obs, nxt[3]), (state, x, alive)

    init = vary_like((state0, obs0, obs0, jnp.float32(1.0)), params, obs0, jax.random.key_data(key))
    _, (states, inputs, alive) = jax.lax.scan(step, init, jnp.arange(max(times) + 1, dtype=jnp.int32))
    idx = jnp.asarray(times)
    return jax.tree.map(lambda x: x[idx], states), inputs[idx], alive[idx]


def _transition(env, env_params, env_key, state, obs, action, alive):
    """One masked step (as :func:`pgjax.envs.rollout`): (next_state, next_obs, reward, next_alive)."""
    next_obs, next_state, reward, done, _ = env.step_env(env_key, state, action, env_params)
    done = jnp.logical_or(done, next_state.time >= env_params.max_steps_in_episode)
    live = alive > 0
    reward = jnp.where(live, jnp.asarray(reward, jnp.float32).reshape(()), jnp.float32(0.0))
    next_state = jax.tree.map(lambda new, old: jnp.where(live, new, old).astype(old.dtype), next_state, state)
    next_obs = jnp.where(live, next_obs, obs).astype(obs.dtype)
    next_alive = jnp.where(jnp.logical_and(live, jnp.logical_not(done)), jnp.float32(1.0), jnp.float32(0.0))
    return next_state, next_obs, reward, next_alive


@dataclasses.dataclass(frozen=True)
class BranchingDecomposition:
    """Per-seed estimates of :data:`TERMS` at each branch time (each (len(times),): traces over the policy's
    parameters), by branching saved environment states (module docstring). ``n`` episodes per seed; the
    engine's params are (policy params, critic params)."""

    times: tuple[int, ...]
    actions: int = 4
    continuations: int = 4
    name = "branching_decomposition"

    def __call__(self, key, params, problem: EnvironmentProblem, n: int):
        from pgjax.envs import step_keys

        params, critic = params  # (policy, critic): one compiled program serves every snapshot
        environment, policy = problem.environment, problem.policy
        env, env_params = environment.env, environment.env_params
        H, g = problem.horizon, problem.discount
        times = jnp.asarray(self.times, jnp.int32)
        J, K = self.actions, self.continuations
        k_ep, k_act, k_cont = jax.random.split(key, 3)
        states, inputs, alive = jax.vmap(lambda k: _episode_states(problem, params, k, self.times))(
            jax.random.split(k_ep, n)
        )  # leaves (n, nt, ...)
        nt = len(self.times)
        a_keys = jax.random.split(k_act, n * nt * J).reshape((n, nt, J))
        acts = jax.vmap(jax.vmap(jax.vmap(lambda k, x: policy.sample(params, k, x), in_axes=(0, None))))(a_keys, inputs)
        flat, unravel = ravel_pytree(params)
        score = jax.grad(lambda f, x, a: policy.log_prob(unravel(f), x, a))
        psi = jax.vmap(jax.vmap(jax.vmap(score, in_axes=(None, None, 0)), in_axes=(None, 0, 0)), in_axes=(None, 0, 0))(
            flat, inputs, acts
        )  # (n, nt, J, P)
        psi = psi * alive[..., None, None]
        # the critic's input (pgjax.problems.environment.critic_inputs): x_t and the fraction left, 1 - t/H
        left = jnp.broadcast_to(1.0 - times.astype(inputs.dtype) / H, inputs.shape[:2])[..., None]
        value = problem.value_scale * problem.critic.value(critic, jnp.concatenate([inputs, left], axis=-1))  # (n, nt)

        def continuation(ckey, t, state, x_obs, action, live):
            """Discounted return from (state at t, action) to the horizon."""
            obs = x_obs.reshape(environment.obs_shape)  # the policies here see x = obs.ravel()

            def body(carry, j):
                state, obs, prev_obs, a, alive, ret = carry
                action_key, env_key = step_keys(ckey, j)
                a = jnp.where(j == 0, action, policy.sample(params, action_key, policy.inputs(obs, prev_obs)))
                nxt_state, nxt_obs, r, nxt_alive = _transition(env, env_params, env_key, state, obs, a, alive)
                inside = (t + j) < H
                ret = ret + jnp.where(inside, g**j * r, 0.0)
                return (nxt_state, nxt_obs, obs, a, nxt_alive, ret), None

            init = (state, obs, obs, action, live, jnp.float32(0.0))
            init = vary_like(init, params, jax.random.key_data(ckey))
            return jax.lax.scan(body, init, jnp.arange(H, dtype=jnp.int32))[0][-1]

        c_keys = jax.random.split(k_cont, n * nt * J * K).reshape((n, nt, J, K))
        cont = jax.vmap(continuation, in_axes=(0, None, None, None, None, None))  # K
        cont = jax.vmap(cont, in_axes=(0, None, None, None, 0, None))  # J
        cont = jax.vmap(cont, in_axes=(0, 0, 0, 0, 0, 0))  # t
        cont = jax.vmap(cont, in_axes=(0, None, 0, 0, 0, 0))  # n
        ret = cont(c_keys, times, states, inputs, acts, alive)  # (n, nt, J, K)

        def terms(baseline):
            x = psi[:, :, :, None, :] * (ret - baseline)[..., None]  # (n, nt, J, K, P)
            return [jnp.sum(v, axis=-1) for v in nested_components(jnp.moveaxis(x, 1, 3))]  # (nt,) each

        s0, a0, tau = terms(0.0)
        _, av, _ = terms(value[:, :, None, None])
        return (s0, a0, av, tau, s0 + a0 + tau, s0 + av + tau)


def snapshots(config: Config) -> dict[str, tuple]:
    """{"initial": ..., "trained": ...}: (policy params, critic params, mean return of the last update) of
    training run 0 (:class:`pgjax.training.Trainer`, GAE, the key of :func:`pgjax.training.run_key`).

    The trained snapshot is ``train_updates`` updates at ``train_learning_rate``. The initial one keeps the
    initial policy but fits its critic by as many updates with a policy learning rate of 0 (the critic's own
    optimiser unchanged), so that both critics are fitted to their own policy. One compiled update serves
    both (the learning rate is an argument)."""
    trainer = Trainer(config.train_setup())
    start = trainer.init(run_key(config.seed, 0), config.train_learning_rate)
    step = jax.jit(trainer.update)
    out = {}
    for label, lr in (("initial", 0.0), ("trained", config.train_learning_rate)):
        state, metrics = start, None
        for _ in range(config.train_updates):
            state, metrics = step(state, jnp.float32(lr))
        out[label] = (start.policy if label == "initial" else state.policy, state.critic, float(metrics["return"]))
    return out


def run(config: Config = Config(), *, progress=None, execution: dict | None = None) -> ExperimentResult:
    """Trains the snapshot and runs the branching sweep at both snapshots (nothing is written)."""
    config.validate()
    table, info = branching_terms(config, snapshots(config), progress=progress, execution=execution)
    return ExperimentResult(
        experiment=NAME,
        config=config,
        problem=describe(config),
        table=table,
        sweep=None,
        info=info,
    )


def describe(config: Config) -> str:
    """The problem's one-line description: environment, policy, horizon and discount."""
    from pgjax.envs import make_environment

    environment = make_environment(config.env)
    return f"{environment.name}, {config.policy_name} policy, H = {config.horizon}, gamma = {config.discount}"


def branching_terms(
    config: Config, trained: dict[str, tuple], *, progress=None, execution: dict | None = None
) -> tuple[pd.DataFrame, dict]:
    """The ``terms`` table and the manifest facts of the branching sweep at the snapshots ``trained`` (from
    :func:`snapshots`): one sweep of :class:`BranchingDecomposition` per snapshot, ``config.n_seeds`` seeds of
    ``config.states`` episodes each, all through one compiled program (the params are (policy, critic))."""
    from pgjax.envs import make_environment
    from pgjax.policies import Critic, make_policy

    environment = make_environment(config.env)
    policy = make_policy(config.policy_name, environment)
    estimator = BranchingDecomposition(tuple(config.times), config.actions, config.continuations)
    z95 = stats.unbiasedness_z(1, 0.05)
    rows, info = [], {"snapshots": {}, "timings": {}}
    problem = EnvironmentProblem(
        environment, policy, config.horizon, config.discount, critic=Critic(hidden=(32,)), value_scale=100.0
    )
    for label, updates in (("initial", 0), ("trained", config.train_updates)):
        t0 = time.perf_counter()
        policy_params, critic_params, last_return = trained[label]
        info["snapshots"][label] = {"updates": updates, "last_training_return": last_return}
        params = (policy_params, critic_params)
        size = sum(np.size(x) for x in jax.tree.leaves(params))
        sweep = run_sweep(
            problem,
            params,
            {TERMS: estimator},
            (config.states,),
            config.n_seeds,
            seed=config.seed + 1,
            chunk_size=config.chunk_size,
            progress=progress,
            reference_gradient=np.zeros(size),
            **(execution or {}),
        )
        info["timings"][label] = time.perf_counter() - t0
        for name in TERMS:
            est = np.asarray(sweep.estimates[name][config.states], np.float64)  # (R, nt)
            mean, se = est.mean(0), est.std(0, ddof=1) / np.sqrt(config.n_seeds)
            for i, t in enumerate(config.times):
                rows.append(
                    {
                        "snapshot": label,
                        "updates": updates,
                        "t": int(t),
                        "term": name,
                        "mean": mean[i],
                        "se": se[i],
                        "lo": mean[i] - z95 * se[i],
                        "hi": mean[i] + z95 * se[i],
                        "n_seeds": config.n_seeds,
                    }
                )
    return pd.DataFrame(rows), info


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per snapshot and t: each term as a fraction of the total with no baseline, and Sigma_a^V / Sigma_tau."""
    rows = []
    for (label, t), g in table.groupby(["snapshot", "t"], sort=False):
        v = dict(zip(g["term"], g["mean"]))
        div = lambda a, b: a / b if b != 0 else float("nan")  # every episode over before t: all terms 0
        rows.append(
            {
                "snapshot": label,
                "t": t,
                "frac_s": div(v["sigma_s"], v["total_none"]),
                "frac_a_none": div(v["sigma_a_none"], v["total_none"]),
                "frac_tau": div(v["sigma_tau"], v["total_none"]),
                "value_baseline_removes": 1.0 - div(v["total_value"], v["total_none"]),
                "ratio_a_value_to_tau": div(v["sigma_a_value"], v["sigma_tau"]),
            }
        )
    return pd.DataFrame(rows)


def draw(folder) -> list[Path]:
    """The figure of :func:`draw_terms` from the folder's ``terms`` table and manifest."""
    folder = Path(folder)
    table = pio.read_frame(folder, "terms")
    manifest = pio.read_manifest(folder)
    c = manifest["config"]
    # CartPole's episodes end when the pole falls; Pendulum's never end before the horizon
    over = "; late branches of the initial policy find most episodes over" if c["env"] == "cartpole" else ""
    title = (
        f"Variance decomposition by branching, {manifest['problem']}: {c['n_seeds']} seeds x {c['states']} "
        f"states x {c['actions']} actions x {c['continuations']} continuations,\n95% intervals (open triangles: "
        f"upper end of an interval reaching 0{over})"
    )
    updates = {snap: info["updates"] for snap, info in manifest["snapshots"].items()}
    return draw_terms(table, updates, title, folder / "figure")


def draw_terms(table: pd.DataFrame, updates: dict[str, int], title: str, path: Path) -> list[Path]:
    """One panel per snapshot of a ``terms`` table: each term against t on a log axis, 95% intervals (points
    whose interval reaches 0 are drawn at the interval's upper end as open triangles); ``updates`` gives each
    snapshot's training updates for its panel title. Saved as ``path`` (.png and .pdf)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pgjax.plotting import variance as plots

    labels = {
        "sigma_s": r"$\Sigma_s$",
        "sigma_a_none": r"$\Sigma_a^{0}$ (no baseline)",
        "sigma_a_value": r"$\Sigma_a^{V}$ (critic baseline)",
        "sigma_tau": r"$\Sigma_\tau$ (Monte Carlo return)",
    }
    colours = ["#0072B2", "#D55E00", "#009E73", "#000000"]
    snaps = list(dict.fromkeys(table["snapshot"]))
    fig, axes = plt.subplots(1, len(snaps), figsize=(5.0 * len(snaps), 4.0), squeeze=False, sharey=True)
    for ax, snap in zip(axes[0], snaps):
        for (name, label), colour in zip(labels.items(), colours):
            g = table[(table["snapshot"] == snap) & (table["term"] == name)].sort_values("t")
            ok = g["lo"] > 0
            ax.errorbar(
                g["t"][ok],
                g["mean"][ok],
                yerr=[g["mean"][ok] - g["lo"][ok], g["hi"][ok] - g["mean"][ok]],
                fmt="o-",
                ms=3.5,
                lw=1.0,
                color=colour,
                capsize=2,
                label=label,
            )
            up = g[~ok & (g["hi"] > 0)]
            ax.plot(up["t"], up["hi"], "v", ms=4, color=colour, mfc="none")
        ax.set_title(f"{snap} ({updates[snap]} updates)", fontsize=10)
        ax.set_yscale("log")
        ax.set_xlabel("branch time t")
        ax.grid(alpha=0.3, which="both")
    axes[0, 0].set_ylabel("trace of the covariance term")
    axes[0, 0].legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=8.5)
    fig.tight_layout()
    paths = plots.save_figure(fig, path)
    plt.close(fig)
    return paths


def save(result: ExperimentResult, out_dir, *, argv=None, overwrite=None) -> Path:
    """Writes the terms and summary tables, the manifest and the figure, replacing ``out_dir``."""
    from pgjax.experiment import save_frames

    frames = {"terms": result.table, "summary": summary(result.table)}
    return save_frames(result, out_dir, frames, draw, argv=argv, overwrite=overwrite)


def headline(result: ExperimentResult) -> pd.DataFrame:
    return summary(result.table)


def retable(folder) -> str:
    return pio.read_frame(Path(folder), "summary").to_markdown(index=False)


def total_work(config: Config) -> int:
    return 2 * config.n_seeds


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks).
HOOKS = Hooks(total_work=total_work, save=save, draw=draw, headline=headline, retable=retable)
