"""Throughput benchmark: pgjax's done-masked rollout (+ a REINFORCE gradient) against gymnax's own stepping.

What it measures, on CartPole-v1, in environment steps per second (``seeds`` episodes x ``horizon`` steps per
call; defaults 4096 x 500 = 2,048,000 steps), each contender one jitted call:

(a) ``ours_rollout_grad``: :func:`pgjax.envs.rollout` of the ``linear-softmax`` policy (zero weights: the
    uniform policy), vmapped over ``seeds`` episode keys, PLUS in the same jitted call the REINFORCE gradient
    grad_theta mean_i sum_t alive_it stop_grad(G_i) log pi_theta(a_it | x_it), G_i = sum_t r_it (the
    done-mask ``alive`` leaves out the meaningless actions sampled after an episode ended; it costs nothing).
(b) ``gymnax_random``: gymnax's own auto-resetting ``env.step`` with a uniformly random policy
    (``env.action_space(params).sample``) and no gradient: the gymnax README's rollout pattern (one episode
    = a ``jax.lax.scan`` of ``env.step`` over ``horizon`` steps, collecting obs, action, reward, done), vmapped
    over ``seeds`` keys. This is the standard gymnax speed-test set-up.
(c) ``ours_rollout``: (a) without the gradient: the vmapped rollout, returning the whole
    :class:`~pgjax.envs.Trajectory`.
(d) ``ours_rollout_grad_fast``: (a) on the engine's fast path (``pgjax run --prng threefry-fast``): the same
    episode keys and random numbers through :data:`pgjax.threefry.THREEFRY_FAST`, and the program compiled
    with the options the engine uses for environment problems on that path
    (:func:`pgjax.engine.prng.compiler_options`: on a CPU, no YNNPACK fusions).
(e) ``gymnax_random_fast_keys``: (b) with keys of pgjax's fast generator, for reference only: it shows how
    much of gymnax's time is JAX's threefry (the targets compare with (b), gymnax as its users run it).

Compilation is timed separately (``jit(...).lower(...).compile()``). Then one warm-up call each and
``repeats`` interleaved rounds, every call ended by ``jax.block_until_ready``; the reported rate is the
median round. Because (a) and (c) run the same uniform policy as (b), both simulate the same episodes in
distribution: as a sanity check, the mean length min(L, H) of our episodes (+1 reward per alive step) is
compared with that of the first episode of each gymnax key (a two-sample z-test, false-failure rate 1e-6;
reported, not raised).

Entry points: :func:`run_bench`, :func:`format_markdown` and ``python -m pgjax.bench.envs [--quick]
[--out DIR]``, which writes ``envs.json`` and ``envs.md`` (default ``results/bench/``). ``device`` in the
output says where it ran.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from pgjax.bench.report import format_rate, load_average, package_version, write_report
from pgjax.bench.score import FAST_PRNG, device_info, wall_timer
from pgjax.engine import prng
from pgjax.envs import make_environment, rollout
from pgjax.errors import ConfigError
from pgjax.policies import make_policy
from pgjax.problems.environment import EnvironmentProblem

JSON_FILE = "envs.json"
MARKDOWN_FILE = "envs.md"
DEFAULT_OUT = Path("results") / "bench"
DEFAULTS = dict(seeds=4096, horizon=500, repeats=5)
#: Quick sizes (smoke tests, and the CPU reference of ``pgjax bench --all --quick``): a round takes milliseconds,
#: so 10 rounds. With 2, two runs of the reference read 7.8 and 3.9 M steps/s; with 10, three read 9.3, 9.7 and 6.0
#: (what remains is this shared machine's own swings between runs, which no round count removes).
QUICK = dict(seeds=256, horizon=100, repeats=10)
ENVIRONMENT = "CartPole-v1"
POLICY = "linear-softmax"
CHECK_ALPHA = 1e-6
CONTENDERS = ("ours_rollout_grad", "ours_rollout", "gymnax_random", "ours_rollout_grad_fast", "gymnax_random_fast_keys")
#: Issue 16's target: ours (rollout + gradient) / gymnax random, on either path.
TARGET16_RATIO_VS_GYMNAX = 2.0
#: The rollout + gradient contender of each generator path (``pgjax run --prng``).
PATH_CONTENDERS = {"threefry": "ours_rollout_grad", FAST_PRNG: "ours_rollout_grad_fast"}
LABELS = {
    "ours_rollout_grad": "pgjax rollout + REINFORCE gradient (linear softmax)",
    "ours_rollout": "pgjax rollout only (linear softmax)",
    "gymnax_random": "gymnax `env.step` (auto-reset), uniformly random actions, no gradient",
    "ours_rollout_grad_fast": "pgjax rollout + REINFORCE gradient, fast path (`--prng threefry-fast`)",
    "gymnax_random_fast_keys": "gymnax random (as above) with pgjax's fast generator's keys (reference only)",
}


# ---------------------------------------------------------------------------------------------- contenders
def make_contenders(seeds: int, horizon: int) -> dict[str, tuple[Callable, tuple, dict]]:
    """name -> (function to jit, its arguments, its XLA compile options) for the contenders of the module
    docstring."""
    environment = make_environment(ENVIRONMENT)
    policy = make_policy(POLICY, environment)
    params = policy.init(jax.random.key(0), environment)
    keys = jax.random.split(jax.random.key(1), seeds)
    fast_keys = jax.random.split(prng.base_key(1, FAST_PRNG), seeds)  # the same keys, fast generator
    fast_options = prng.compiler_options(
        FAST_PRNG, EnvironmentProblem(environment, policy, horizon), jax.devices()[0].platform
    )
    env, env_params = environment.env, environment.env_params

    def ours_rollout(params, keys):
        return jax.vmap(lambda k: rollout(environment, policy, params, k, horizon))(keys)

    def ours_rollout_grad(params, keys):
        trajectories = ours_rollout(params, keys)
        returns = jax.lax.stop_gradient(jnp.sum(trajectories.rewards, axis=1))  # G_i, (seeds,)

        def surrogate(p):
            log_probs = policy.log_prob(p, trajectories.inputs, trajectories.actions)  # (seeds, H)
            return jnp.mean(returns * jnp.sum(trajectories.alive * log_probs, axis=1))

        return jax.grad(surrogate)(params), jnp.mean(returns)

    def gymnax_episode(key):  # the gymnax README's rollout, with a random policy
        key_reset, key_episode = jax.random.split(key)
        obs, state = env.reset(key_reset, env_params)

        def policy_step(carry, _):
            obs, state, key = carry
            key, key_step, key_act = jax.random.split(key, 3)
            action = env.action_space(env_params).sample(key_act)
            next_obs, next_state, reward, terminated, truncated, _ = env.step(key_step, state, action, env_params)
            done = jnp.logical_or(terminated, truncated)
            return (next_obs, next_state, key), (obs, action, reward, done)

        _, out = jax.lax.scan(policy_step, (obs, state, key_episode), None, length=horizon)
        return out

    def gymnax_random(keys):
        return jax.vmap(gymnax_episode)(keys)

    return {
        "ours_rollout_grad": (ours_rollout_grad, (params, keys), {}),
        "ours_rollout": (ours_rollout, (params, keys), {}),
        "gymnax_random": (gymnax_random, (keys,), {}),
        "ours_rollout_grad_fast": (ours_rollout_grad, (params, fast_keys), fast_options),
        "gymnax_random_fast_keys": (gymnax_random, (fast_keys,), {}),
    }


def _compile(fn: Callable, args: tuple, options: dict) -> tuple[Callable, float]:
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile(compiler_options=options)
    return compiled, time.perf_counter() - start


# ----------------------------------------------------------------------------------------------- the run
def run_bench(seeds: int = 4096, horizon: int = 500, repeats: int = 5) -> dict:
    """Runs the benchmark of the module docstring and returns its results (a JSON-ready dict).

    Keys include ``rates_steps_per_s`` (median-round rate of each contender), ``ratio_vs_gymnax_random``
    (ours with the gradient / gymnax random), ``ratio_fast_vs_gymnax_random`` (the same on the fast path),
    ``ratio_rollout_only_vs_gymnax_random``, ``targets_issue16``, ``compiler_options``, ``compile_seconds``,
    ``median_seconds``, ``best_seconds``, ``round_seconds``, ``device``, ``versions``, ``sizes`` and
    ``checks`` (mean episode lengths of both simulators, and that the gradient is finite).
    """
    for field, value, low in (("seeds", seeds, 1), ("horizon", horizon, 1), ("repeats", repeats, 1)):
        if int(value) != value or value < low:
            raise ConfigError(field, f"must be an integer >= {low} (got {value!r})")
    seeds, horizon, repeats = int(seeds), int(horizon), int(repeats)
    steps = seeds * horizon
    started = time.time()
    contenders = make_contenders(seeds, horizon)

    compiled, compile_seconds, outputs = {}, {}, {}
    for name, (fn, args, options) in contenders.items():
        compiled[name], compile_seconds[name] = _compile(fn, args, options)
        outputs[name] = jax.block_until_ready(compiled[name](*args))  # the warm-up call

    timers = {
        name: wall_timer(lambda name=name: jax.block_until_ready(compiled[name](*contenders[name][1])))
        for name in contenders
    }
    rounds: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):  # interleaved, so that a change in machine load hits every contender alike
        for name, timer in timers.items():
            rounds[name].append(float(timer()))
    median = {name: statistics.median(ts) for name, ts in rounds.items()}
    best = {name: min(ts) for name, ts in rounds.items()}
    rates = {name: steps / t for name, t in median.items()}
    # Ours (rollout + gradient) / gymnax random, per generator path: the issue-16 target is on these.
    path_ratios = {path: rates[name] / rates["gymnax_random"] for path, name in PATH_CONTENDERS.items()}

    grad, mean_return = outputs["ours_rollout_grad"]
    fast_grad, fast_mean_return = outputs["ours_rollout_grad_fast"]
    grad_finite = bool(
        all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree.leaves(grad) + jax.tree.leaves(fast_grad))
    )
    ours_lengths = np.asarray(outputs["ours_rollout"].alive, np.float64).sum(axis=1)
    _, _, _, gym_done = outputs["gymnax_random"]
    gym_done = np.asarray(gym_done)
    # The first episode of each gymnax key starts from a reset, like ours, and is cut at H alike: min(L, H).
    gym_lengths = np.where(gym_done.any(axis=1), gym_done.argmax(axis=1) + 1, horizon).astype(np.float64)
    z = (
        (ours_lengths.mean() - gym_lengths.mean())
        / max(np.sqrt(ours_lengths.var(ddof=1) / seeds + gym_lengths.var(ddof=1) / seeds), 1e-300)
        if seeds > 1
        else 0.0
    )
    device = device_info()
    return {
        "benchmark": "envs",
        "environment": ENVIRONMENT,
        "policy": POLICY + " (zero weights: the uniform policy)",
        "sizes": {"seeds": seeds, "horizon": horizon, "repeats": repeats, "steps": steps},
        "device": device["description"],
        "device_info": device,
        "versions": {
            "python": platform.python_version(),
            "jax": jax.__version__,
            "numpy": np.__version__,
            "gymnax": package_version("gymnax"),
            "flax": package_version("flax"),
        },
        "rates_steps_per_s": rates,
        "ratio_vs_gymnax_random": path_ratios["threefry"],
        "ratio_fast_vs_gymnax_random": path_ratios[FAST_PRNG],
        "ratio_rollout_only_vs_gymnax_random": rates["ours_rollout"] / rates["gymnax_random"],
        "targets_issue16": {path: bool(ratio >= TARGET16_RATIO_VS_GYMNAX) for path, ratio in path_ratios.items()},
        "compiler_options": {name: options for name, (_, _, options) in contenders.items() if options},
        "compile_seconds": compile_seconds,
        "median_seconds": median,
        "best_seconds": best,
        "round_seconds": rounds,
        "checks": {
            "gradient_finite": grad_finite,
            "ours_mean_return": float(mean_return),
            # The fast path draws the same numbers, so it runs the same episodes (the same mean return).
            "fast_path_mean_return": float(fast_mean_return),
            "fast_path_same_episodes": bool(float(fast_mean_return) == float(mean_return)),
            "ours_mean_episode_length": float(ours_lengths.mean()),
            "gymnax_mean_first_episode_length": float(gym_lengths.mean()),
            "episode_length_z": float(z),
            "z_bound": _z_bound(CHECK_ALPHA),
            "family_false_failure_rate": CHECK_ALPHA,
            "episode_lengths_agree": bool(abs(z) <= _z_bound(CHECK_ALPHA)),
        },
        "load_average": load_average(),
        "wall_seconds": time.time() - started,
    }


def _z_bound(alpha: float) -> float:
    return statistics.NormalDist().inv_cdf(1.0 - alpha / 2.0)


# ------------------------------------------------------------------------------------------------ output


def format_markdown(result: Mapping[str, Any]) -> str:
    """The results of :func:`run_bench` as a Markdown report (a table of rates, ratios and compile times)."""
    s, rates = result["sizes"], result["rates_steps_per_s"]
    med, best, comp = result["median_seconds"], result["best_seconds"], result["compile_seconds"]
    gym = rates["gymnax_random"]
    v = result["versions"]
    c = result["checks"]
    lines = [
        "# pgjax benchmark: environment rollouts on CartPole-v1",
        "",
        f"{s['seeds']} episodes x {s['horizon']} steps ({s['steps']:,} environment steps per call), each "
        "contender one jitted call. Policy: linear softmax with zero weights (the uniform policy, the same "
        "as gymnax's random actions).",
        "",
        f"Device: {result['device']}. jax {v['jax']}, gymnax {v['gymnax']}, flax {v['flax']}, Python {v['python']}.",
        "",
        f"Median of {s['repeats']} interleaved rounds after compilation and one warm-up call; every call ends "
        "with `jax.block_until_ready`. Compilation (`jit(f).lower(...).compile()`) is timed separately.",
        "",
        "| contender | median time (s) | best time (s) | steps/s (median) | / gymnax random | compile (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in CONTENDERS:
        lines.append(
            f"| {LABELS[name]} | {med[name]:.3f} | {best[name]:.3f} | {format_rate(rates[name])} | "
            f"{rates[name] / gym:.2f} | {comp[name]:.2f} |"
        )
    lines += [
        "",
        f"Ours (rollout + gradient) / gymnax random: **{result['ratio_vs_gymnax_random']:.2f}**; "
        f"rollout only / gymnax random: **{result['ratio_rollout_only_vs_gymnax_random']:.2f}**; "
        f"rollout + gradient on the fast path / gymnax random: **{result['ratio_fast_vs_gymnax_random']:.2f}**.",
        "",
        f"Target of issue 16 (ours, rollout + gradient, >= {TARGET16_RATIO_VS_GYMNAX:g} x gymnax random): "
        + "; ".join(
            f"`{path}` {ratio:.2f} (**{'met' if result['targets_issue16'][path] else 'NOT met'}**)"
            for path, ratio in (
                ("threefry", result["ratio_vs_gymnax_random"]),
                ("threefry-fast", result["ratio_fast_vs_gymnax_random"]),
            )
        )
        + ".",
        "",
        "## What is compared",
        "",
        "- pgjax: `pgjax.envs.rollout` (`env.reset_env` once, then a `lax.scan` of `env.step_env` with a "
        "done-mask: no auto-reset, the state frozen after termination, rewards zeroed), vmapped over episode "
        "keys; with the gradient, grad of mean_i sum_t alive_it stop_grad(G_i) log pi(a_it | x_it) in the "
        "same jitted call. It returns the whole trajectories (inputs, actions, rewards, alive).",
        "- gymnax: the README's rollout pattern, `env.step` (which also computes a reset at every step and "
        "selects it when an episode ends) in a `lax.scan`, actions from `env.action_space(params).sample`, "
        "vmapped over keys, collecting (obs, action, reward, done).",
        "- The fast path (`pgjax run --prng threefry-fast`): the same episode keys, drawn through pgjax's "
        "unrolled threefry (`pgjax/engine/prng.py`: the same numbers), and the program compiled with the XLA "
        "options the engine uses for environment problems on that path: "
        + (
            ", ".join(f"`{k}={v!r}`" for k, v in result["compiler_options"].get("ours_rollout_grad_fast", {}).items())
            or "none on this platform"
        )
        + ". "
        "(On a CPU: no YNNPACK fusions, whose fixed cost per call dominates the small per-step reductions of a "
        "rollout.) Its estimates may differ from the `threefry` ones in their last bits.",
        "- gymnax with the fast generator's keys is a reference, not a target: it shows how much of gymnax's "
        "random rollout is JAX's threefry (at every step: the loop's `split`, the one inside `env.step`, and a "
        "`randint`).",
        "",
        "## Checks",
        "",
        f"- Gradient finite: {c['gradient_finite']}.",
        f"- Mean episode length min(L, H) of the uniform policy: ours {c['ours_mean_episode_length']:.2f} (mean "
        f"return {c['ours_mean_return']:.2f}: +1 per alive step), gymnax {c['gymnax_mean_first_episode_length']:.2f} "
        f"(the first episode of each key). z = {c['episode_length_z']:.2f} against a bound of "
        f"{c['z_bound']:.2f} (false-failure rate {c['family_false_failure_rate']:g}): "
        f"{'agree' if c['episode_lengths_agree'] else 'DISAGREE'}.",
        f"- Fast path: mean return {c['fast_path_mean_return']:.4f}, "
        f"{'the same episodes' if c['fast_path_same_episodes'] else 'DIFFERENT episodes'} as the `threefry` path.",
        "",
        "## Notes",
        "",
        f"- Load average (1, 5, 15 min) at the end: {result.get('load_average')}. The machine may be shared.",
        "",
    ]
    return "\n".join(lines)


def write_results(result: Mapping[str, Any], out_dir: Path | str) -> tuple[Path, Path]:
    """Writes ``envs.json`` and ``envs.md`` into ``out_dir`` (created if needed), each atomically."""
    return write_report(out_dir, JSON_FILE, MARKDOWN_FILE, result, format_markdown(result))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pgjax.bench.envs [--quick] [--out DIR] [--seeds R] [--horizon H] [--repeats K]``."""
    parser = argparse.ArgumentParser(prog="python -m pgjax.bench.envs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for smoke tests")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default results/bench)")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--horizon", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else DEFAULTS)
    for key in ("seeds", "horizon", "repeats"):
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)
    try:
        res = run_bench(**sizes)
    except ValueError as err:
        print(f"pgjax bench_envs: error: {err}", file=sys.stderr)
        return 2
    write_results(res, args.out)
    print(f"device: {res['device']}")
    for name in CONTENDERS:
        print(
            f"{name:18s} {res['rates_steps_per_s'][name] / 1e6:9.2f} M steps/s "
            f"(compile {res['compile_seconds'][name]:.2f} s)"
        )
    print(f"ours (rollout + grad) / gymnax random: {res['ratio_vs_gymnax_random']:.2f}")
    print(f"ours (rollout + grad), fast path / gymnax random: {res['ratio_fast_vs_gymnax_random']:.2f}")
    print(f"wrote {Path(args.out) / JSON_FILE} and {Path(args.out) / MARKDOWN_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
