"""Training a policy with a gradient estimator, many seeds at once, as one compiled pure function.

The purejaxrl pattern (Lu et al. 2022, "Discovered policy optimisation"): a training run is a pure function
of a key, ``jax.lax.scan`` over updates, jitted and vmapped over seeds (and over learning rates, which are
inputs, not constants). Each update draws ``episodes`` episodes of a fixed horizon with the done-mask of
:func:`pgjax.envs.rollout`, computes the learning signal of :mod:`pgjax.estimators.episodic` (the same code
the variance experiments measure), and takes one optax step. Variants with a critic also fit a state-value
network to the batch's returns-to-go (Monte Carlo targets) AFTER the policy step, so the baseline a batch
sees never depends on that batch and the value baseline stays unbiased.

Memory and progress. Metrics are reduced inside the scan to one row per ``log_every`` updates (the mean
over those updates' batches), never kept per step. The host splits the run into chunks of whole metric
blocks, each one call of the same compiled program, with a progress callback between chunks. With a
``checkpoint`` folder, the state of every seed and the metrics so far are written atomically after each
chunk under a name derived from a hash of the setup; ``resume`` restarts from the last one. The per-run
computation never depends on the chunking, so a resumed run gives bit-identical results.

Blocks and sharding: runs (seeds x learning rates) are computed in blocks of ``min(runs, MAX_RUN_BLOCK)``
runs, a shape that depends on the config only, so a shard of the seeds (``seed_range``) computes each of its
seeds exactly as the unsharded run does. Each block is laid out along one mesh axis over the local devices
(jax's automatic partitioning of the vmapped program; no communication between runs). Unlike the sweep engine's
fixed micro-batch programs, a run's numbers can then move in the last bits with the number of devices
(XLA compiles a shard of 2 runs differently from 8): results agree to float rounding, not bit for bit. So on
a CPU, where pgjax commands give JAX one device per core, training uses one device unless ``devices`` asks
for more: the default numbers do not depend on the machine's core count.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from pgjax.errors import ConfigError
from pgjax.estimators.episodic import CRITIC_SIGNALS, check_signal, learning_signal, surrogate_gradient
from pgjax.problems.environment import critic_inputs
from pgjax.returns import returns_to_go

OPTIMISERS = ("adam", "rmsprop", "sgd")
CHECKPOINT_SCHEMA = "pgjax.train-checkpoint/1"
#: Metrics recorded per block of ``log_every`` updates (means over the block's batches).
METRICS = ("return", "length", "grad_norm", "critic_loss")


@dataclasses.dataclass(frozen=True)
class TrainSetup:
    """Everything that determines a training run except the seed and the learning rate."""

    env: str = "cartpole"
    policy: str = "linear-softmax"
    hidden: tuple[int, ...] = (64, 64)
    state_dependent_sigma: bool = False
    init_log_sigma: float = 0.0
    estimator: str = "reward_to_go"
    episodes: int = 8
    horizon: int = 500
    discount: float = 1.0
    lam: float = 0.95
    optimiser: str = "adam"
    max_grad_norm: float = 0.0
    critic_hidden: tuple[int, ...] = (64, 64)
    critic_learning_rate: float = 1e-3
    critic_epochs: int = 4
    value_scale: float = 1.0
    updates: int = 100
    log_every: int = 5

    def validate(self) -> None:
        """ConfigError naming the first invalid field."""
        from pgjax.envs import make_environment
        from pgjax.policies import make_policy

        check_signal(self.estimator, "estimators")
        make_policy(
            self.policy,
            make_environment(self.env),
            hidden=self.hidden,
            state_dependent_sigma=self.state_dependent_sigma,
        )
        positive = {
            "episodes": self.episodes,
            "horizon": self.horizon,
            "updates": self.updates,
            "log_every": self.log_every,
            "critic_epochs": self.critic_epochs,
        }
        for field, value in positive.items():
            if value < 1:
                raise ConfigError(field, f"must be >= 1 (got {value})")
        if self.estimator == "leave_one_out" and self.episodes < 2:
            raise ConfigError("episodes", "leave_one_out needs >= 2 episodes per update")
        if self.updates % self.log_every:
            raise ConfigError("updates", f"must be a multiple of --log-every ({self.log_every}); got {self.updates}")
        if not (0.0 < self.discount <= 1.0):
            raise ConfigError("discount", f"must be in (0, 1] (got {self.discount})")
        if not (0.0 <= self.lam <= 1.0):
            raise ConfigError("lam", f"must be in [0, 1] (got {self.lam})")
        if self.optimiser not in OPTIMISERS:
            raise ConfigError("optimiser", f"choose from {', '.join(OPTIMISERS)} (got {self.optimiser!r})")
        if self.max_grad_norm < 0:
            raise ConfigError("max_grad_norm", f"must be >= 0, 0 meaning no clipping (got {self.max_grad_norm})")
        if self.critic_learning_rate <= 0 or self.value_scale <= 0:
            raise ConfigError("critic_learning_rate", "and --value-scale must be > 0")

    @property
    def uses_critic(self) -> bool:
        return self.estimator in CRITIC_SIGNALS

    @property
    def blocks(self) -> int:
        return self.updates // self.log_every


class TrainState(NamedTuple):
    """The carry of one run."""

    key: jax.Array  # raw key data (uint32), so that it can be saved and sharded like any array
    policy: Any
    policy_opt: Any
    critic: Any
    critic_opt: Any


def make_optimiser(name: str, learning_rate, max_grad_norm: float = 0.0) -> optax.GradientTransformation:
    """An optax optimiser that MAXIMISES (it is given -grad). RMSProp with decay 0.99 as in Karpathy's Pong."""
    base = {
        "adam": lambda: optax.adam(learning_rate),
        "rmsprop": lambda: optax.rmsprop(learning_rate, decay=0.99),
        "sgd": lambda: optax.sgd(learning_rate),
    }[name]()
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), base) if max_grad_norm > 0 else base


class Trainer:
    """The compiled pieces of a training run for one :class:`TrainSetup`: ``init(key, lr)`` and
    ``block(state, lr)`` (``log_every`` updates, one metrics row), each for ONE run; vmap them outside."""

    def __init__(self, setup: TrainSetup):
        from pgjax.envs import make_environment
        from pgjax.policies import Critic, make_policy

        setup.validate()
        self.setup = setup
        self.environment = make_environment(setup.env)
        self.policy = make_policy(
            setup.policy,
            self.environment,
            hidden=setup.hidden,
            state_dependent_sigma=setup.state_dependent_sigma,
            init_log_sigma=setup.init_log_sigma,
        )
        self.critic = Critic(hidden=setup.critic_hidden) if setup.uses_critic else None

    # ---------------------------------------------------------------------------------- one run
    def _critic_optimiser(self):
        return optax.adam(self.setup.critic_learning_rate)

    def init(self, key: jax.Array, learning_rate) -> TrainState:
        k_policy, k_critic, k_run = jax.random.split(key, 3)
        policy = self.policy.init(k_policy, self.environment)
        policy_opt = make_optimiser(self.setup.optimiser, learning_rate, self.setup.max_grad_norm).init(policy)
        if self.critic is not None:
            x = self.policy.inputs(*(jnp.zeros(self.environment.obs_shape),) * 2)
            critic = self.critic.init(k_critic, x.shape[-1] + 1)
            critic_opt = self._critic_optimiser().init(critic)
        else:
            critic, critic_opt = {}, {}
        return TrainState(jax.random.key_data(k_run), policy, policy_opt, critic, critic_opt)

    def values(self, critic, inputs):
        """V(x_t) for time-major inputs (H, n, D): (H, n)."""
        x = critic_inputs(inputs, self.setup.horizon)
        return self.setup.value_scale * jax.vmap(jax.vmap(lambda z: self.critic.value(critic, z)))(x)

    def update(self, state: TrainState, learning_rate) -> tuple[TrainState, dict]:
        """One policy-gradient step (and critic fit) from a fresh batch of episodes."""
        from pgjax.envs import rollout

        setup = self.setup
        key = jax.random.wrap_key_data(state.key)
        key, k_batch = jax.random.split(key)
        keys = jax.random.split(k_batch, setup.episodes)
        traj = jax.vmap(lambda k: rollout(self.environment, self.policy, state.policy, k, setup.horizon))(keys)
        inputs, actions, rewards, alive = (jnp.swapaxes(x, 0, 1) for x in traj)  # time-major (H, n, ...)
        values = self.values(state.critic, inputs) if self.critic is not None else None
        weights = learning_signal(setup.estimator, rewards, alive, values, discount=setup.discount, lam=setup.lam)
        grad = surrogate_gradient(self.policy.log_prob, state.policy, inputs, actions, weights)
        tx = make_optimiser(setup.optimiser, learning_rate, setup.max_grad_norm)
        updates, policy_opt = tx.update(jax.tree.map(jnp.negative, grad), state.policy_opt, state.policy)
        policy = optax.apply_updates(state.policy, updates)
        critic, critic_opt, critic_loss = state.critic, state.critic_opt, jnp.zeros((), rewards.dtype)
        if self.critic is not None:
            critic, critic_opt, critic_loss = self._fit_critic(state.critic, state.critic_opt, inputs, rewards, alive)
        metrics = {
            "return": jnp.mean(jnp.sum(rewards, axis=0)),
            "length": jnp.mean(jnp.sum(alive, axis=0)),
            "grad_norm": optax.tree.norm(grad),
            "critic_loss": critic_loss,
        }
        return TrainState(jax.random.key_data(key), policy, policy_opt, critic, critic_opt), metrics

    def _fit_critic(self, critic, critic_opt, inputs, rewards, alive):
        """``critic_epochs`` full-batch Adam steps on the mean squared error to G_t / value_scale over the
        alive steps."""
        setup = self.setup
        target = returns_to_go(rewards, setup.discount) / setup.value_scale
        count = jnp.maximum(jnp.sum(alive), 1.0)
        tx = self._critic_optimiser()

        def loss(c):
            v = self.values(c, inputs) / setup.value_scale
            return jnp.sum(alive * (v - target) ** 2) / count

        def step(carry, _):
            c, opt = carry
            value, g = jax.value_and_grad(loss)(c)
            updates, opt = tx.update(g, opt, c)
            return (optax.apply_updates(c, updates), opt), value

        (critic, critic_opt), losses = jax.lax.scan(step, (critic, critic_opt), None, length=setup.critic_epochs)
        return critic, critic_opt, losses[0]

    def block(self, state: TrainState, learning_rate) -> tuple[TrainState, dict]:
        """``log_every`` updates; metrics averaged over them (one row)."""

        def body(s, _):
            return self.update(s, learning_rate)

        state, metrics = jax.lax.scan(body, state, None, length=self.setup.log_every)
        return state, jax.tree.map(lambda m: jnp.mean(m, axis=0), metrics)


# ------------------------------------------------------------------------------------------- host side
@dataclasses.dataclass
class TrainResult:
    """Metrics of every run: ``metrics[name]`` has shape (L, S, B) for L learning rates, S seeds and B
    blocks of ``log_every`` updates; ``updates`` (B,) is the number of updates done at the end of each
    block. ``state`` is the final TrainState, leaves with leading axes (L * S,)."""

    setup: TrainSetup
    learning_rates: tuple[float, ...]
    n_seeds: int
    seed: int
    metrics: dict[str, np.ndarray]
    updates: np.ndarray
    state: Any
    compile_seconds: float
    run_seconds: float
    resumed_blocks: int = 0
    checkpoint_path: str | None = None

    @property
    def episodes(self) -> np.ndarray:
        return self.updates * self.setup.episodes


def run_key(seed: int, index) -> jax.Array:
    """The key of run ``index`` (seed index, the same for every learning rate): fold_in(key(seed), index)."""
    return jax.random.fold_in(jax.random.key(seed), index)


def checkpoint_identity(
    setup: TrainSetup, learning_rates, n_seeds: int, seed: int, chunk_blocks: int, devices: int = 1
) -> dict:
    """What a checkpoint's numbers depend on. ``devices``: the runs are laid out over that many devices, which
    can move the last bits (see the module docstring), so a resume on another number recomputes."""
    import pgjax

    return {
        "devices": int(devices),
        "schema": CHECKPOINT_SCHEMA,
        "setup": repr(setup),
        "learning_rates": [float(lr).hex() for lr in learning_rates],
        "n_seeds": int(n_seeds),
        "seed": int(seed),
        "chunk_blocks": int(chunk_blocks),
        "pgjax": pgjax.__version__,
        "jax": jax.__version__,
    }


def _checkpoint_path(folder: Path, identity: dict) -> Path:
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]
    return Path(folder) / f"train-{digest}.npz"


def _save_checkpoint(path: Path, identity: dict, state, metrics: dict, blocks_done: int) -> None:
    from pgjax.io import atomic_write_bytes

    leaves = [np.asarray(x) for x in jax.tree.leaves(jax.device_get(state))]
    arrays = {f"state_{i}": leaf for i, leaf in enumerate(leaves)}
    arrays.update({f"metric_{k}": np.asarray(v) for k, v in metrics.items()})
    buffer = io.BytesIO()
    np.savez(
        buffer, identity=np.asarray(json.dumps(identity, sort_keys=True)), blocks_done=np.asarray(blocks_done), **arrays
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())


def _load_checkpoint(path: Path, identity: dict, template):
    """(state, metrics, blocks_done) from a checkpoint of the same identity, or None if there is none.
    A file that exists but cannot be read or does not match raises ResultsError naming it."""
    from pgjax.io import ResultsError

    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            stored = json.loads(str(data["identity"]))
            if stored != identity:
                raise ResultsError(f"{path}: checkpoint of a different run (delete it or drop --resume)")
            leaves, treedef = jax.tree.flatten(template)
            state = [np.asarray(data[f"state_{i}"]) for i in range(len(leaves))]
            for got, want in zip(state, leaves):
                if got.shape != np.shape(want) or got.dtype != np.asarray(want).dtype:
                    raise ResultsError(f"{path}: checkpoint arrays do not match the run")
            metrics = {k: np.asarray(data[f"metric_{k}"]) for k in METRICS}
            blocks_done = int(data["blocks_done"])
    except ResultsError:
        raise
    except Exception as err:
        raise ResultsError(f"{path}: unreadable checkpoint ({type(err).__name__})") from None
    return jax.tree.unflatten(treedef, state), metrics, blocks_done


#: Most runs (seeds x learning rates) per compiled call: the run axis is cut into blocks of
#: ``min(runs, MAX_RUN_BLOCK)`` runs, aligned at multiples of the block, whatever shard of the seeds is computed.
MAX_RUN_BLOCK = 256
FINAL_SCHEMA = "pgjax.train-final/1"


@functools.lru_cache(maxsize=16)
def _programs(setup: TrainSetup, seed: int):
    """The trainer and its jitted ``init`` and ``chunk`` programs, shared by the calls of one setup and seed
    (shards and merges of one run compile once per process)."""
    trainer = Trainer(setup)
    init = jax.jit(jax.vmap(lambda i, lr: trainer.init(run_key(seed, i), lr)))

    def chunk_fn(state, lr, length):
        def one(s, lr_):
            return jax.lax.scan(lambda c, _: trainer.block(c, lr_), s, None, length=length)

        return jax.vmap(one)(state, lr)

    return trainer, init, jax.jit(chunk_fn, static_argnames="length", donate_argnums=0)


def _final_rows(metrics: dict[str, np.ndarray]) -> np.ndarray:
    """Per-seed rows of the final metrics (L, S, B) of every metric: (S, len(METRICS) * L * B) float32."""
    parts = [np.swapaxes(np.asarray(metrics[k], np.float32), 0, 1).reshape(metrics[k].shape[1], -1) for k in METRICS]
    return np.concatenate(parts, axis=1)


def _from_rows(rows: np.ndarray, L: int, blocks: int) -> dict[str, np.ndarray]:
    """The inverse of :func:`_final_rows`."""
    S = rows.shape[0]
    width = L * blocks
    return {
        k: np.swapaxes(rows[:, i * width : (i + 1) * width].reshape(S, L, blocks), 0, 1) for i, k in enumerate(METRICS)
    }


def train(
    setup: TrainSetup,
    n_seeds: int,
    *,
    learning_rates: tuple[float, ...] = (1e-2,),
    seed: int = 0,
    chunk_blocks: int | None = None,
    progress: Callable[[int], None] | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    devices: int | None = None,
    stop_after_chunks: int | None = None,
    seed_range: tuple[int, int] | None = None,
    store=None,
) -> TrainResult:
    """Trains ``n_seeds`` seeds x ``learning_rates`` runs of ``setup`` in one vmapped program.

    Run r is learning rate ``r // n_seeds`` and seed ``r % n_seeds``. The runs are computed in blocks of
    ``min(runs, MAX_RUN_BLOCK)`` runs (one compiled shape, a function of the config only), aligned at multiples
    of the block: so a seed's numbers are the same whichever shard of the seeds a call computes.

    Args:
      chunk_blocks: metric blocks per compiled call (default: about 10 calls in all); the progress callback
        receives the number of updates done per call. It never changes a number.
      checkpoint: a folder for the per-chunk checkpoint (written atomically after every chunk).
      resume: continue from the checkpoint of the same setup, if there is one.
      devices: local devices to lay the runs over (default: all that divide the number of runs; on a CPU one,
        since a run's last bits depend on the device count and pgjax commands give JAX a CPU device per core:
        so the default numbers are the same on every machine).
      stop_after_chunks: stop after this many chunks of THIS call (for tests of interruption).
      seed_range: ``(start, stop)``: train only the global seeds start..stop-1 (a shard of the run; the blocks
        that hold them are computed whole, so each seed's numbers are those of the unsharded run). The result
        then holds stop - start seeds.
      store: a :class:`pgjax.engine.cells.CellStore` (or a merge's store of shards): its folder holds the
        checkpoint, it resumes when the store does, and the finished run's per-seed metrics are one cell of it
        (loaded instead of trained when resuming or merging).
    """
    import time

    from pgjax.engine import CompileCounter

    setup.validate()
    if n_seeds < 1:
        raise ConfigError("n_seeds", f"must be >= 1 (got {n_seeds})")
    if not learning_rates or min(learning_rates) <= 0:
        raise ConfigError("learning_rates", f"every learning rate must be > 0 (got {learning_rates})")
    from pgjax.engine.cells import check_shard_sweep, seed_bounds

    if store is not None:
        check_shard_sweep(store, n_seeds)
        checkpoint = getattr(store, "folder", None)
        resume = bool(store.resume)
    lo, hi = seed_bounds(seed_range, n_seeds)
    count = hi - lo
    trainer, init, chunk = _programs(setup, seed)
    blocks = setup.blocks
    chunk_blocks = int(chunk_blocks or max(1, math.ceil(blocks / 10)))
    if chunk_blocks < 1:
        raise ConfigError("chunk_blocks", f"must be >= 1 (got {chunk_blocks})")
    L = len(learning_rates)
    runs = L * n_seeds
    from pgjax.engine import MAX_COUNT, check_host_memory

    if runs > MAX_COUNT:  # before any allocation
        raise ConfigError("n_seeds", f"{n_seeds} seeds x {L} learning rate(s) is over {MAX_COUNT} runs (2^31 - 1)")
    check_host_memory(
        4 * L * count * blocks * len(METRICS),
        "n_seeds",
        f"the metrics of {count} seeds x {L} learning rate(s) x {blocks} block(s)",
    )
    width = min(runs, MAX_RUN_BLOCK)
    wanted = np.array([j * n_seeds + i for j in range(L) for i in range(lo, hi)], np.int64)
    run_blocks = sorted({int(r) // width for r in wanted})
    all_lrs = np.repeat(np.asarray(learning_rates, np.float32), n_seeds)  # run r: lr index r // S, seed r % S
    sharding = _run_sharding(width, devices)
    put = (lambda x: jax.device_put(x, sharding)) if sharding is not None else jnp.asarray

    identity = checkpoint_identity(
        setup, learning_rates, n_seeds, seed, chunk_blocks, devices=1 if sharding is None else sharding.mesh.size
    )
    identity["run_block"] = width
    if seed_range is not None:
        identity["seeds"] = [lo, hi]
    final_identity = {k: v for k, v in identity.items() if k != "chunk_blocks"} | {"schema": FINAL_SCHEMA}
    path = _checkpoint_path(Path(checkpoint), identity) if checkpoint is not None else None
    learning_rates = tuple(float(x) for x in learning_rates)
    updates = np.arange(1, blocks + 1) * setup.log_every
    if store is not None and resume:
        rows = store.load(final_identity)
        if rows is not None:
            return TrainResult(
                setup=setup,
                learning_rates=learning_rates,
                n_seeds=count,
                seed=seed,
                metrics=_from_rows(np.asarray(rows), L, blocks),
                updates=updates,
                state=None,
                compile_seconds=0.0,
                run_seconds=0.0,
                resumed_blocks=blocks,
                checkpoint_path=None if path is None else str(path),
            )

    metrics = {k: np.full((len(run_blocks) * width, blocks), np.nan, np.float32) for k in METRICS}
    compile_s = run_s = 0.0
    with CompileCounter():
        t0 = time.perf_counter()
        lr_dev, state = [], []
        for k in run_blocks:
            global_runs = np.minimum(np.arange(k * width, (k + 1) * width), runs - 1)  # the last block repeats run N-1
            lr_dev.append(put(all_lrs[global_runs]))
            state.append(init(put((global_runs % n_seeds).astype(np.uint32)), lr_dev[-1]))
        jax.block_until_ready(state)
        compile_s += time.perf_counter() - t0
        done = 0
        if resume and path is not None:
            loaded = _load_checkpoint(path, identity, jax.device_get(state))
            if loaded is not None:
                host_state, metrics, done = loaded
                state = [jax.tree.map(put, s) for s in host_state]
        resumed = done
        chunks_run = 0
        while done < blocks:
            if stop_after_chunks is not None and chunks_run >= stop_after_chunks:
                break
            length = min(chunk_blocks, blocks - done)
            t0 = time.perf_counter()
            for b in range(len(run_blocks)):
                state[b], m = chunk(state[b], lr_dev[b], length)
                m = jax.device_get(m)
                for k in METRICS:
                    metrics[k][b * width : (b + 1) * width, done : done + length] = m[k]
            elapsed = time.perf_counter() - t0
            if chunks_run == 0 and done == resumed:
                compile_s += elapsed  # the first call compiles
            else:
                run_s += elapsed
            done += length
            chunks_run += 1
            if path is not None:
                _save_checkpoint(path, identity, state, metrics, done)
            if progress is not None:
                progress(length * setup.log_every)
    position = np.array([run_blocks.index(int(r) // width) * width + int(r) % width for r in wanted])
    shaped = {k: v[position].reshape(L, count, blocks) for k, v in metrics.items()}
    host_state = jax.device_get(state)
    final_state = jax.tree.map(lambda *xs: np.concatenate(xs)[position], *host_state)
    if store is not None and done == blocks:
        store.save(final_identity, _final_rows(shaped))
    return TrainResult(
        setup=setup,
        learning_rates=learning_rates,
        n_seeds=count,
        seed=seed,
        metrics=shaped,
        updates=updates,
        state=final_state,
        compile_seconds=compile_s,
        run_seconds=run_s,
        resumed_blocks=resumed,
        checkpoint_path=None if path is None else str(path),
    )


def _run_sharding(runs: int, devices: int | None):
    """A NamedSharding of the run axis over the largest number of local devices (at most ``devices``) that
    divides the number of runs; None on one device."""
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    available = jax.local_devices()
    if devices is None and available[0].platform == "cpu":
        devices = 1  # a run's bits depend on the device count, and pgjax commands give a CPU one per core
    if devices is not None:
        if devices < 1 or devices > len(available):
            raise ConfigError("devices", f"must be between 1 and {len(available)} (got {devices})")
        available = available[:devices]
    count = max(d for d in range(1, len(available) + 1) if runs % d == 0)
    if count == 1:
        return None
    mesh = jax.make_mesh((count,), ("run",), devices=available[:count], axis_types=(jax.sharding.AxisType.Auto,))
    return NamedSharding(mesh, P("run"))


__all__ = [
    "METRICS",
    "OPTIMISERS",
    "TrainResult",
    "TrainSetup",
    "TrainState",
    "Trainer",
    "make_optimiser",
    "run_key",
    "train",
]
