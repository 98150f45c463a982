"""Throughput benchmark: rollout plus the reward-to-go estimator on scalar LQR, against expert NumPy.

What it measures. :class:`~pgjax.estimators.trajectory.RewardToGo` (its default one-pass form, fused into
the rollout: sum_t psi_t G_t = sum_s gamma^s r_s Psi_s) on the scalar system x' = x + u,
u = -0.5 x + 0.5 eps, r = -(x^2 + 0.1 u^2), x_0 = 1, horizon H (default 50), for R seeds x n trajectories
(default 4096 x 256 = 1,048,576 trajectories, 52 million steps per round), through the engine's real path:
one :func:`pgjax.engine.run_sweep` call per timed round with ``chunk_size = R``, timed by the sweep's own
``run_seconds`` (compilation excluded; :class:`pgjax.bench.EngineTimer`). The rate is trajectory steps per
second (R n H / time). It is raced, in the same process and in interleaved rounds, against

1. the RNG limit: the same engine path drawing only the problem's normals (:class:`pgjax.bench.score.DrawNormals`);
2. the same estimator in vectorised NumPy written as an expert would (:func:`numpy_expert_reward_to_go`):
   float32, one generator stream per seed, seeds x trajectories vectorised in cache-sized blocks, a Python
   loop over time, preallocated buffers and in-place ufuncs, the scores in closed form, and the
   reward-to-go either accumulated forward (sum_t psi_t G_t = sum_s gamma^s r_s Psi_s with the running
   score sums Psi_s: one pass, nothing stored) or by a reverse cumulative sum over stored rewards. Block
   sizes, bit generators, the two methods and thread counts are raced; the fastest is the rival.

Every contender's time is its best round. Before timing, the NumPy estimates are checked against the JAX
estimates and the exact gradient (z-tests, family-wise false-failure rate 1e-6), and the two NumPy methods
against each other on the same draws.

Entry points: :func:`run_benchmark` and ``python -m pgjax.bench.lqr [--quick] [--out DIR]``, which writes
``lqr.json`` and ``lqr.md`` (default ``results/bench/``). No GPU figure is produced on a machine without
one; ``device`` in the output says where it ran.
"""

from __future__ import annotations

import argparse
import inspect
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jax
import numpy as np

from pgjax.bench.report import format_rate, load_average, write_report
from pgjax.bench.score import (
    FAST_PRNG,
    DrawNormals,
    EngineTimer,
    device_info,
    mean_agreement,
    race,
    wall_timer,
)
from pgjax.cli_support import cores
from pgjax.engine import MICRO_BATCH_ELEMENTS
from pgjax.estimators.trajectory import RewardToGo
from pgjax.problems.base import exact_gradient
from pgjax.problems.lqr import LinearQuadraticRegulator
from pgjax.tree_util import ravel

TARGET_RATIO_VS_NUMPY = 1.0
#: Issue 16's target for this benchmark, checked for each generator: >= 2 x the fastest NumPy configuration.
TARGET16_RATIO_VS_NUMPY = 2.0
CHECK_ALPHA = 1e-6
JSON_FILE = "lqr.json"
MARKDOWN_FILE = "lqr.md"
DEFAULT_OUT = Path("results") / "bench"
DEFAULTS = dict(horizon=50, n_seeds=4096, n=256, repeats=5)
#: Quick sizes (smoke tests, and the CPU reference of `pgjax bench --all --quick`): a round takes milliseconds, so
#: 10 rounds, for a best time that is not one round's scheduling noise.
QUICK = dict(horizon=10, n_seeds=128, n=64, repeats=10)

#: The benchmarked system (see :meth:`LinearQuadraticRegulator.scalar`).
SYSTEM = dict(a=1.0, b=1.0, q=1.0, r=0.1, k=-0.5, sigma=0.5, x0=1.0, gamma=1.0)


def bench_problem(horizon: int = 50) -> LinearQuadraticRegulator:
    """The scalar system of :data:`SYSTEM` with the given horizon (fixed x_0, no process noise)."""
    s = SYSTEM
    return LinearQuadraticRegulator.scalar(
        a=s["a"],
        b=s["b"],
        q=s["q"],
        r=s["r"],
        k=s["k"],
        sigma=s["sigma"],
        x0=s["x0"],
        horizon=horizon,
        discount=s["gamma"],
    )


# ----------------------------------------------------------------------------------------- the NumPy rival
def numpy_expert_reward_to_go(
    seeds: np.ndarray,
    n: int,
    horizon: int,
    *,
    a: float,
    b: float,
    q: float,
    r: float,
    k: float,
    sigma: float,
    x0: float,
    gamma: float,
    block: int = 16,
    workers: int = 1,
    method: str = "forward",
    bit_generator: type = np.random.SFC64,
) -> np.ndarray:
    """Reward-to-go on the scalar LQR, vectorised over seeds x trajectories, a Python loop over time, float32.

    Per seed one generator stream (``Generator(bit_generator(seed))``) draws its (H, n) action noise, so a
    seed's estimate does not depend on ``block``, ``workers`` or ``method``. With eps_t the noise, the scores
    are psi_K,t = eps_t x_t / sigma and psi_log_sigma,t = eps_t^2 - 1, and the estimate per coordinate is
    mean over trajectories of sum_t psi_t G_t, G_t = sum_{s>=t} gamma^s r_s, computed either

    - ``forward``: as sum_s gamma^s r_s Psi_s with running score sums Psi_s = sum_{t<=s} psi_t, accumulated in
      the same pass over time as the rollout (no (H, n) arrays besides the noise), or
    - ``reverse``: storing r_t, reverse cumulative sums, then one fused multiply-sum per coordinate.

    Returns:
      float32 (len(seeds), 2): [g_K, g_log_sigma] per seed.
    """
    seeds = np.asarray(seeds)
    f32 = np.float32
    a, b, q, r, k, sigma, x0, gamma = (f32(v) for v in (a, b, q, r, k, sigma, x0, gamma))
    disc = (gamma ** np.arange(horizon)).astype(f32)
    out = np.empty((seeds.shape[0], 2), dtype=f32)

    def run_shard(lo: int, hi: int) -> None:
        eps_buf = np.empty((block, horizon, n), f32)
        shape = (block, n)
        x, u, rw, tmp, psi_k, psi_s, acc_k, acc_s = (np.empty(shape, f32) for _ in range(8))
        if method == "reverse":
            rewards = np.empty((horizon, block, n), f32)
            states = np.empty((horizon, block, n), f32)
        for start in range(lo, hi, block):
            stop = min(start + block, hi)
            m = stop - start
            eps = eps_buf[:m]
            for row, seed in enumerate(seeds[start:stop]):
                np.random.Generator(bit_generator(int(seed))).standard_normal(dtype=f32, out=eps[row])
            xv, uv, rv, tv = x[:m], u[:m], rw[:m], tmp[:m]
            xv.fill(x0)
            if method == "forward":
                pk, ps, ak, as_ = psi_k[:m], psi_s[:m], acc_k[:m], acc_s[:m]
                for arr in (pk, ps, ak, as_):
                    arr.fill(0.0)
                for t in range(horizon):
                    e = eps[:, t, :]
                    np.multiply(xv, k, out=uv)  # u = k x + sigma e
                    np.multiply(e, sigma, out=tv)
                    uv += tv
                    np.multiply(e, xv, out=tv)  # Psi_K += e x / sigma
                    tv *= 1.0 / sigma
                    pk += tv
                    np.multiply(e, e, out=tv)  # Psi_s += e^2 - 1
                    tv -= 1.0
                    ps += tv
                    np.multiply(xv, xv, out=rv)  # gamma^t r = -gamma^t (q x^2 + r u^2)
                    rv *= -q * disc[t]
                    np.multiply(uv, uv, out=tv)
                    tv *= -r * disc[t]
                    rv += tv
                    np.multiply(rv, pk, out=tv)  # acc += gamma^t r Psi
                    ak += tv
                    np.multiply(rv, ps, out=tv)
                    as_ += tv
                    xv *= a  # x' = a x + b u
                    np.multiply(uv, b, out=tv)
                    xv += tv
                out[start:stop, 0] = ak.mean(axis=1)
                out[start:stop, 1] = as_.mean(axis=1)
            else:
                rew, sts = rewards[:, :m], states[:, :m]
                for t in range(horizon):
                    e = eps[:, t, :]
                    sts[t] = xv
                    np.multiply(xv, k, out=uv)
                    np.multiply(e, sigma, out=tv)
                    uv += tv
                    np.multiply(xv, xv, out=rew[t])
                    rew[t] *= -q * disc[t]
                    np.multiply(uv, uv, out=tv)
                    tv *= -r * disc[t]
                    rew[t] += tv
                    xv *= a
                    np.multiply(uv, b, out=tv)
                    xv += tv
                np.cumsum(rew[::-1], axis=0, out=rew[::-1])  # rew[t] = sum_{s>=t} gamma^s r_s, in place
                eps_t = np.moveaxis(eps, 1, 0)  # (H, m, n) view
                # sum_t psi_t G_t: psi_K = e x / sigma, psi_s = e^2 - 1 (fused multiply-sums, no (H, m, n) temps)
                gk = np.einsum("tbn,tbn,tbn->b", eps_t, sts, rew, optimize=False) / (sigma * n)
                gs = (np.einsum("tbn,tbn,tbn->b", eps_t, eps_t, rew, optimize=False) - np.einsum("tbn->b", rew)) / n
                out[start:stop, 0] = gk
                out[start:stop, 1] = gs

    total = seeds.shape[0]
    if workers <= 1:
        run_shard(0, total)
    else:  # NumPy releases the GIL in the generators and ufuncs: shard the seeds over threads.
        per = -(-total // workers)
        per = -(-per // block) * block
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda lo: run_shard(lo, min(lo + per, total)), range(0, total, per)))
    return out


def numpy_variants(quick: bool) -> list[dict[str, Any]]:
    """NumPy configurations raced: methods x blocks x bit generators x thread counts."""
    blocks = (16,) if quick else (4, 16, 64)
    generators = (np.random.SFC64,) if quick else (np.random.SFC64, np.random.PCG64)
    methods = ("forward", "reverse")
    threads = sorted({1, cores()})
    return [
        {"method": m, "block": bl, "bit_generator": g, "workers": w}
        for m in methods
        for g in generators
        for bl in blocks
        for w in threads
    ]


def variant_name(v: Mapping[str, Any]) -> str:
    return f"numpy[{v['method']},{v['bit_generator'].__name__},block={v['block']},threads={v['workers']}]"


# ---------------------------------------------------------------------------------------------- the run
def run_benchmark(
    *,
    horizon: int = 50,
    n_seeds: int = 4096,
    n: int = 256,
    repeats: int = 5,
    micro_batch_elements: Sequence[int] | None = None,
    out_dir: Path | str | None = None,
    seed: int = 0,
    quick_variants: bool | None = None,
) -> dict[str, Any]:
    """Times reward-to-go through the engine against its RNG limit and expert NumPy; optionally writes the
    results.

    Args:
      horizon, n_seeds, n: H, R and n (trajectories per seed); rates are R n H steps per second.
      repeats: timed rounds; each contender's time is its best round.
      micro_batch_elements: engine micro-batch settings raced (the fastest is the headline; default: the
        engine's default divided by H, the setting the LQR experiments use, and 2^11 ... 2^14: on a CPU a
        micro-batch that stays in cache is fastest).
      out_dir: when given, ``lqr.json`` and ``lqr.md`` are written there atomically (created if needed).
      seed: base seed of the JAX keys and the first NumPy seed.
      quick_variants: race fewer NumPy configurations (default: when R n H is small).

    Raises:
      ValueError: a size is out of range.
      RuntimeError: 64-bit JAX is on, or a rival disagrees with the JAX estimator or the exact gradient.
    """
    for name, value, low in (("horizon", horizon, 1), ("n_seeds", n_seeds, 2), ("n", n, 1), ("repeats", repeats, 1)):
        if not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low} (got {value!r})")
    if jax.config.jax_enable_x64:
        raise RuntimeError("run the benchmark with 64-bit JAX disabled: it compares float32 paths")
    steps = n_seeds * n * horizon
    if quick_variants is None:
        quick_variants = steps < (1 << 22)
    if micro_batch_elements is None:
        micro_batch_elements = sorted({max(1, MICRO_BATCH_ELEMENTS // horizon), 1 << 11, 1 << 12, 1 << 13, 1 << 14})
    started, load_before = time.time(), load_average()
    problem = bench_problem(horizon)
    params = problem.init_params()
    np_seeds = np.arange(seed, seed + n_seeds)
    system = dict(SYSTEM)

    engine = {}
    for mbe in micro_batch_elements:
        engine[f"estimator[mbe={mbe}]"] = EngineTimer(
            problem, params, RewardToGo(), "reward_to_go", n_seeds, n, micro_batch_elements=mbe, seed=seed
        )
        engine[f"rng_limit[mbe={mbe}]"] = EngineTimer(
            problem, params, DrawNormals(), "rng_limit", n_seeds, n, micro_batch_elements=mbe, seed=seed
        )
    fast = {}  # the same through the faster generator (the same numbers; pgjax.engine.prng), in the same rounds
    for mbe in micro_batch_elements:
        common = dict(micro_batch_elements=mbe, seed=seed, prng=FAST_PRNG)
        fast[f"fast_estimator[mbe={mbe}]"] = EngineTimer(
            problem, params, RewardToGo(), "reward_to_go", n_seeds, n, **common
        )
        fast[f"fast_rng_limit[mbe={mbe}]"] = EngineTimer(
            problem, params, DrawNormals(), "rng_limit", n_seeds, n, **common
        )

    # Correctness before timing.
    first = engine[f"estimator[mbe={micro_batch_elements[0]}]"]
    jax_estimates = np.asarray(first.estimates(), np.float64)
    if not np.all(np.isfinite(jax_estimates)):
        raise RuntimeError("the JAX estimator returned non-finite estimates")
    true_grad = np.asarray(ravel(exact_gradient(problem, params)), np.float64)
    variants = numpy_variants(quick_variants)
    by_generator: dict[str, np.ndarray] = {}
    method_gap = 0.0
    for v in variants:
        est = numpy_expert_reward_to_go(np_seeds, n, horizon, **system, **v)
        g = v["bit_generator"].__name__
        if g in by_generator:  # same streams: blocking and threading change nothing, methods only rounding
            ref = by_generator[g]
            method_gap = max(method_gap, float(np.max(np.abs(est - ref)) / max(np.max(np.abs(ref)), 1e-30)))
        else:
            by_generator[g] = est
    if not method_gap < 1e-3:
        raise RuntimeError(f"NumPy variants disagree on the same draws (relative gap {method_gap:.2e})")
    comparisons = {"jax_vs_exact": mean_agreement(jax_estimates, truth=true_grad)}
    fast_estimates = np.asarray(fast[f"fast_estimator[mbe={micro_batch_elements[0]}]"].estimates(), np.float64)
    comparisons[f"jax_{FAST_PRNG}_vs_exact"] = mean_agreement(fast_estimates, truth=true_grad)
    for g, est in by_generator.items():
        comparisons[f"numpy_{g}_vs_jax"] = mean_agreement(est, jax_estimates)
        comparisons[f"numpy_{g}_vs_exact"] = mean_agreement(est, truth=true_grad)
    tests = sum(z.size for z in comparisons.values())
    from statistics import NormalDist

    bound = NormalDist().inv_cdf(1.0 - CHECK_ALPHA / (2.0 * tests))
    worst = {key: float(np.max(np.abs(z))) for key, z in comparisons.items()}
    failed = [key for key, z in worst.items() if not z <= bound]
    if failed:
        raise RuntimeError(f"estimates disagree beyond statistical error (|z| > {bound:.2f}): {failed}")

    # The race: NumPy configurations first (fewer rounds), then the fastest joins the JAX paths.
    numpy_timers = {
        variant_name(v): wall_timer(lambda v=v: numpy_expert_reward_to_go(np_seeds, n, horizon, **system, **v))
        for v in variants
    }
    variant_times = race(numpy_timers, max(1, min(repeats, 2)))
    best_variant = min(variant_times, key=variant_times.get)
    main = race({**engine, **fast, "numpy_vectorized": numpy_timers[best_variant]}, repeats)
    variant_times[best_variant] = min(variant_times[best_variant], main["numpy_vectorized"])
    est_keys = [k for k in engine if k.startswith("estimator")]
    best_est = min(est_keys, key=main.get)
    best_mbe = int(best_est.split("=")[1].rstrip("]"))
    rng_key = f"rng_limit[mbe={best_mbe}]"
    seconds = {"estimator": main[best_est], "rng_limit": main[rng_key], "numpy_vectorized": variant_times[best_variant]}
    rates = {k: steps / v for k, v in seconds.items()}
    by_prng = {}
    for prng, prefix in (("threefry", ""), (FAST_PRNG, "fast_")):
        est_best = min((k for k in main if k.startswith(f"{prefix}estimator")), key=main.get)
        mbe_best = int(est_best.split("=")[1].rstrip("]"))
        est_rate, rng_rate = steps / main[est_best], steps / main[f"{prefix}rng_limit[mbe={mbe_best}]"]
        vs_numpy = est_rate / rates["numpy_vectorized"]
        by_prng[prng] = {
            "steps_per_s": est_rate,
            "rng_limit_steps_per_s": rng_rate,
            "micro_batch_elements": mbe_best,
            "ratio_vs_numpy_vectorized": vs_numpy,
            "ratio_vs_rng_limit": est_rate / rng_rate,
            "target_issue16_met": vs_numpy >= TARGET16_RATIO_VS_NUMPY,
        }
    single = {k: t for k, t in variant_times.items() if "threads=1]" in k}
    best_single = min(single, key=single.get) if single else None
    device = device_info()
    result: dict[str, Any] = {
        "steps_per_s": rates["estimator"],
        "ratio_vs_numpy_vectorized": rates["estimator"] / rates["numpy_vectorized"],
        "ratio_vs_rng_limit": rates["estimator"] / rates["rng_limit"],
        "device": device["description"],
        "device_info": device,
        "gpu": (
            "not measured: no GPU was available to this run" if device["platform"] == "cpu" else device["description"]
        ),
        "versions": {"python": platform.python_version(), "jax": jax.__version__, "numpy": np.__version__},
        "sizes": {"horizon": horizon, "n_seeds": n_seeds, "n": n, "steps": steps, "repeats": repeats},
        "problem": problem.describe(),
        "estimator": "RewardToGo through pgjax.engine.run_sweep (chunk_size = R), timed by run_seconds",
        "micro_batch_elements": {"raced": list(micro_batch_elements), "best": best_mbe},
        "best_seconds": seconds,
        "rates_steps_per_s": rates,
        "engine_seconds": {k: main[k] for k in {**engine, **fast}},
        "compile_seconds": {k: t.compile_seconds[0] for k, t in {**engine, **fast}.items() if t.compile_seconds},
        "by_prng": by_prng,
        "target_issue16": {"ratio_vs_numpy_vectorized": TARGET16_RATIO_VS_NUMPY},
        "numpy_vectorized_best": best_variant,
        "numpy_single_thread_best": best_single,
        "ratio_vs_numpy_single_thread": (rates["estimator"] / (steps / single[best_single])) if best_single else None,
        "numpy_variants_steps_per_s": {k: steps / t for k, t in variant_times.items()},
        "target": {"ratio_vs_numpy_vectorized": TARGET_RATIO_VS_NUMPY},
        "target_met": rates["estimator"] / rates["numpy_vectorized"] >= TARGET_RATIO_VS_NUMPY,
        "checks": {
            "max_abs_z": worst,
            "z_bound": bound,
            "family_false_failure_rate": CHECK_ALPHA,
            "numpy_methods_max_relative_gap": method_gap,
            "true_grad": true_grad.tolist(),
        },
        "load_average": {"before": load_before, "after": load_average()},
        "wall_seconds": time.time() - started,
    }
    if out_dir is not None:
        write_results(result, out_dir)
    return result


def render_markdown(res: Mapping[str, Any]) -> str:
    s, secs, rates = res["sizes"], res["best_seconds"], res["rates_steps_per_s"]
    lines = [
        "# pgjax benchmark: rollout + reward-to-go on scalar LQR",
        "",
        f"Problem: {res['problem']} (x' = x + u, r = -(x^2 + 0.1 u^2), x_0 = 1). Estimator: reward-to-go "
        f"(GPOMDP; `RewardToGo()`, whose default form folds sum_s gamma^s r_s Psi_s into the rollout's scan), run "
        f"through `pgjax.engine.run_sweep` with R = {s['n_seeds']} seeds x n = {s['n']} "
        f"trajectories x H = {s['horizon']} steps ({s['steps']:,} trajectory steps per round), timed by the "
        f"sweep's `run_seconds` (compilation excluded). Engine micro-batch setting: the fastest of "
        f"{res['micro_batch_elements']['raced']} ({res['micro_batch_elements']['best']}).",
        "",
        f"Device: {res['device']}. jax {res['versions']['jax']}, numpy {res['versions']['numpy']}, "
        f"Python {res['versions']['python']}. GPU: {res['gpu']}.",
        "",
        f"Best of {s['repeats']} interleaved rounds after compilation and a warm-up; rates in trajectory steps "
        "per second.",
        "",
        "| contender | best time (s) | steps/s | estimator / contender |",
        "|---|---:|---:|---:|",
        f"| pgjax RewardToGo (engine path) | {secs['estimator']:.3f} | {format_rate(rates['estimator'])} | 1 |",
        f"| RNG limit: same engine path, drawing the normals only | {secs['rng_limit']:.3f} | "
        f"{format_rate(rates['rng_limit'])} | {res['ratio_vs_rng_limit']:.2f} |",
        f"| NumPy, vectorised expert (`{res['numpy_vectorized_best']}`) | {secs['numpy_vectorized']:.3f} | "
        f"{format_rate(rates['numpy_vectorized'])} | {res['ratio_vs_numpy_vectorized']:.2f} |",
        "",
        f"Target (CPU): faster than the NumPy version: **{'met' if res['target_met'] else 'NOT met'}** "
        f"({res['ratio_vs_numpy_vectorized']:.2f} x the fastest NumPy configuration"
        + (
            f"; {res['ratio_vs_numpy_single_thread']:.2f} x the fastest single-threaded one, "
            f"`{res['numpy_single_thread_best']}`"
            if res.get("numpy_single_thread_best")
            else ""
        )
        + ").",
        "",
        f"Per generator (`pgjax run --prng`; `{FAST_PRNG}` draws the same numbers as the default `threefry`, "
        "computed faster on a CPU; `pgjax/engine/prng.py`), each at its fastest micro-batch setting, in the same "
        f"rounds. Target of issue 16: >= {res['target_issue16']['ratio_vs_numpy_vectorized']} x the fastest NumPy "
        "configuration:",
        "",
        "| generator | micro-batch elements | estimator steps/s | RNG limit steps/s | estimator / RNG limit "
        "| estimator / NumPy | target |",
        "|---|---:|---:|---:|---:|---:|---|",
        *(
            f"| `{prng}` | {row['micro_batch_elements']} | {format_rate(row['steps_per_s'])} | "
            f"{format_rate(row['rng_limit_steps_per_s'])} | {row['ratio_vs_rng_limit']:.2f} | "
            f"{row['ratio_vs_numpy_vectorized']:.2f} | **{'met' if row['target_issue16_met'] else 'NOT met'}** |"
            for prng, row in res["by_prng"].items()
        ),
        "",
        "NumPy configurations raced (every one checked to give the same estimates on the same draws):",
        "",
        "| configuration | steps/s |",
        "|---|---:|",
    ]
    for name, rate in sorted(res["numpy_variants_steps_per_s"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| `{name}` | {format_rate(rate)} |")
    lines += ["", "Engine settings raced:", "", "| contender | best time (s) |", "|---|---:|"]
    for name, t in res["engine_seconds"].items():
        lines.append(f"| {name} | {t:.3f} |")
    load = res.get("load_average") or {}
    c = res["checks"]
    lines += [
        "",
        "## Checks",
        "",
        f"Before timing: the mean of the NumPy estimates (each bit generator) agrees with the JAX estimates' and "
        f"both with the exact gradient within z = {c['z_bound']:.2f} standard errors per coordinate "
        f"(family-wise false-failure rate {c['family_false_failure_rate']:g}); the forward and reverse NumPy "
        f"methods agree on the same draws to a relative {c['numpy_methods_max_relative_gap']:.1e}. Largest |z|: "
        + ", ".join(f"{k} {v:.2f}" for k, v in c["max_abs_z"].items())
        + ".",
        "",
        "## Notes",
        "",
        f"- Load average (1, 5, 15 min) before / after: {load.get('before')} / {load.get('after')}. The machine "
        "may be shared; best-of-rounds times are the least disturbed.",
        "- XLA runs on all the cores it may use; NumPy configurations with threads > 1 shard the seeds over a "
        "thread pool (NumPy releases the GIL in its generators and ufuncs).",
        "- Both sides draw H n normals per seed; on a CPU the rate is bounded by the random-number generator "
        "(JAX's threefry against NumPy's SFC64/PCG64), which the RNG-limit row measures.",
        "",
        "## NumPy code raced",
        "",
        "```python",
        inspect.getsource(numpy_expert_reward_to_go).rstrip(),
        "```",
        "",
    ]
    return "\n".join(lines)


def write_results(result: Mapping[str, Any], out_dir: Path | str) -> tuple[Path, Path]:
    """Writes ``lqr.json`` and ``lqr.md`` into ``out_dir`` (created if needed), each atomically."""
    return write_report(out_dir, JSON_FILE, MARKDOWN_FILE, result, render_markdown(result))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pgjax.bench.lqr [--quick] [--out DIR] [--horizon H] [--seeds R] [--n N] [--repeats K]``."""
    parser = argparse.ArgumentParser(prog="python -m pgjax.bench.lqr", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for smoke tests")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default results/bench)")
    parser.add_argument("--horizon", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else DEFAULTS)
    for key, arg in (("horizon", "horizon"), ("n_seeds", "seeds"), ("n", "n"), ("repeats", "repeats")):
        if getattr(args, arg) is not None:
            sizes[key] = getattr(args, arg)
    try:
        res = run_benchmark(**sizes, out_dir=args.out)
    except ValueError as err:
        print(f"pgjax bench_lqr: error: {err}", file=sys.stderr)
        return 2
    print(f"device: {res['device']}")
    for key, rate in res["rates_steps_per_s"].items():
        print(f"{key:18s} {rate / 1e6:9.1f} M steps/s")
    print(
        f"estimator / NumPy expert: {res['ratio_vs_numpy_vectorized']:.2f} "
        f"(target >= 1: {'met' if res['target_met'] else 'NOT met'})"
    )
    for prng, row in res["by_prng"].items():
        print(
            f"--prng {prng:14s} {row['steps_per_s'] / 1e6:9.1f} M steps/s: {row['ratio_vs_numpy_vectorized']:.2f} x "
            f"NumPy, {row['ratio_vs_rng_limit']:.2f} x RNG limit (issue-16 target >= {TARGET16_RATIO_VS_NUMPY}: "
            f"{'met' if row['target_issue16_met'] else 'NOT met'})"
        )
    print(f"wrote {Path(args.out) / JSON_FILE} and {Path(args.out) / MARKDOWN_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
