"""Every benchmark and a short run of each default experiment, on whatever accelerator JAX sees, in one command
with a time budget: ``pgjax bench --all [--quick] [--out DIR] [--budget-seconds S] [--compare REF.json]``.

Each part runs in its own subprocess (a fresh JAX, as a user runs it), in this order:

1. the benchmarks, each writing its own json + md under ``DIR/bench/``: :mod:`pgjax.bench.score` (the bandit),
   :mod:`pgjax.bench.lqr`, :mod:`pgjax.bench.envs` (their default sizes; ``--quick``: their quick sizes) and
   :mod:`pgjax.bench.scaling` (always ``--quick``: its full mode alone takes minutes);
2. the experiments: ``pgjax run NAME --n-seeds K --no-figures --out DIR/experiments/NAME`` for each of
   :data:`EXPERIMENTS` (``--quick``: :data:`QUICK_EXPERIMENTS`), with its wall time from process start to
   finished tables.

The budget (``--budget-seconds``, default 480 s = 8 minutes) bounds the whole command: a part is given the
time left as its timeout and is killed when it runs out; the parts after it are recorded as skipped. The
summary, ``bench-all.json`` and ``bench-all.md`` in DIR, holds the device (JAX platform, device kind and count,
CPU model), each benchmark's headline throughput and micro-batch, each experiment's wall time, micro-batch
(``execution.micro_batch_elements`` of its manifest) and device, and the status of every part.

With ``--compare REF.json`` (the summary of another run of this command, e.g. on the CPU,
``results/bench/bench-all-cpu.json``) it adds the comparison: for each benchmark, this run's throughput over
the reference's; for each experiment run with the same arguments in both, whether their variance intervals
agree, cell by cell of ``table.parquet`` (the rows matched on the table's key columns: the intervals
[var_lo, var_hi] of the two runs overlap). Two independent runs of one estimator give 95% intervals that
overlap with probability above 99% (each misses the common variance with probability 5%), so a few
non-overlapping cells among many are expected and many are not.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pgjax.bench.report import cpu_model, load_average, write_report
from pgjax.cli_support import cores

JSON_FILE = "bench-all.json"
MARKDOWN_FILE = "bench-all.md"
DEFAULT_OUT = Path("results") / "bench" / "all"
#: The default time budget of the whole command: 8 minutes.
DEFAULT_BUDGET_SECONDS = 480.0
SCHEMA = 1

#: The benchmarks: name -> (module, its json file, the headline throughput key, its unit).
BENCHMARKS: dict[str, tuple[str, str, str, str]] = {
    "score": ("pgjax.bench.score", "bench.json", "samples_per_s", "samples/s"),
    "lqr": ("pgjax.bench.lqr", "lqr.json", "steps_per_s", "steps/s"),
    "envs": ("pgjax.bench.envs", "envs.json", "rates_steps_per_s.ours_rollout_grad", "steps/s"),
    "scaling": ("pgjax.bench.scaling", "scaling.json", "samples_per_s_1_device", "samples/s"),
}
#: Benchmarks run in their quick mode even in the full command (their full mode alone exceeds the budget).
ALWAYS_QUICK = ("scaling",)
#: The default experiments of the full command, and the seeds of their short runs (None: the config's own).
EXPERIMENTS: dict[str, int | None] = {
    "bandit-variance": 1000,
    "contextual-bandit-variance": 1000,
    "kool2020-bernoulli": 1000,
    "lqr-variance": 500,
    "lqr-horizon": 500,
    "lqr-pgpe": 500,
    "group-baselines": 500,
    "wu2018": 500,
    "cartpole-variance": 200,
    "pong-pixels": None,
}
QUICK_EXPERIMENTS: dict[str, int | None] = {"bandit-variance": 200}


def _get(mapping: Mapping[str, Any], dotted: str) -> Any:
    value: Any = mapping
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def device_info() -> dict[str, Any]:
    """What JAX sees in a fresh process started as a ``pgjax`` command starts it (one CPU device per core,
    :func:`pgjax.cli_support.use_every_core`): platform, device kind and count (and the CPU model and cores)."""
    code = (
        "from pgjax.cli_support import use_every_core; use_every_core(); "
        "import jax, json; d = jax.devices(); "
        "print(json.dumps({'platform': d[0].platform, 'device_kind': d[0].device_kind, 'count': len(d), "
        "'jax': jax.__version__}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    info = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else {"error": proc.stderr[-500:]}
    return {**info, "cpu": cpu_model(), "cores": cores()}


def run_part(argv: Sequence[str], timeout: float, log: Path) -> dict[str, Any]:
    """Runs one part (a command) with ``timeout`` seconds; its output goes to ``log``. Returns its status
    (``ok``, ``failed`` with the exit code and last line, or ``stopped`` when the budget ran out) and wall time."""
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if timeout <= 0:
        return {"status": "skipped", "reason": "no time left in the budget", "wall_s": 0.0}
    with open(log, "w", encoding="utf-8") as handle:
        proc = subprocess.Popen(list(argv), stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)  # the part and the workers it started
            proc.wait()
            return {"status": "stopped", "reason": "the budget ran out", "wall_s": time.perf_counter() - t0}
    wall = time.perf_counter() - t0
    if code != 0:
        lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        return {"status": "failed", "exit_code": code, "reason": lines[-1] if lines else "", "wall_s": wall}
    return {"status": "ok", "wall_s": wall}


def benchmark_row(name: str, out: Path, quick: bool, timeout: float) -> dict[str, Any]:
    module, json_name, key, unit = BENCHMARKS[name]
    folder = out / "bench"
    argv = [sys.executable, "-m", module, "--out", str(folder)] + (["--quick"] if quick else [])
    row = {
        "name": name,
        "command": argv[1:],
        "quick": quick,
        "unit": unit,
        **run_part(argv, timeout, out / "logs" / f"{name}.log"),
    }
    if row["status"] == "ok":
        result = json.loads((folder / json_name).read_text(encoding="utf-8"))
        row["throughput"] = _get(result, key)
        row["throughput_key"] = key
        micro = _get(result, "sizes.micro_batch_elements")
        micro = micro if micro is not None else _get(result, "micro_batch_elements.best")
        row["micro_batch_elements"] = micro
        row["json"] = str((folder / json_name).relative_to(out))
    return row


def experiment_row(name: str, seeds: int | None, out: Path, timeout: float) -> dict[str, Any]:
    folder = out / "experiments" / name
    args = ["run", name] + ([] if seeds is None else ["--n-seeds", str(seeds)])
    argv = [sys.executable, "-m", "pgjax.cli", *args, "--no-figures", "--overwrite", "--out", str(folder)]
    row = {"name": name, "args": args, **run_part(argv, timeout, out / "logs" / f"{name}.log")}
    if row["status"] == "ok":
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        execution = manifest.get("execution", {})
        row["micro_batch_elements"] = execution.get("micro_batch_elements")
        row["device_kind"] = execution.get("device_kind")
        table = folder / "table.parquet"
        row["table"] = str(table.relative_to(out)) if table.exists() else None
    return row


def compare(result: Mapping[str, Any], out: Path, reference_path: Path) -> dict[str, Any]:
    """This run against a reference summary: throughput ratios and interval agreement (module docstring)."""
    import numpy as np
    import pandas as pd

    reference = json.loads(reference_path.read_text(encoding="utf-8"))
    ref_root = reference_path.parent
    ref_bench = {row["name"]: row for row in reference.get("benchmarks", [])}
    ratios = {}
    for row in result["benchmarks"]:
        ref = ref_bench.get(row["name"])
        if ref and row.get("throughput") and ref.get("throughput"):
            ratios[row["name"]] = {
                "this": row["throughput"],
                "reference": ref["throughput"],
                "ratio": row["throughput"] / ref["throughput"],
                "unit": row["unit"],
                "same_mode": bool(row.get("quick")) == bool(ref.get("quick")),
            }
    ref_exp = {row["name"]: row for row in reference.get("experiments", [])}
    agreement = {}
    for row in result["experiments"]:
        ref = ref_exp.get(row["name"])
        if not (ref and row.get("table") and ref.get("table")) or ref.get("args") != row.get("args"):
            continue
        ours = pd.read_parquet(out / row["table"])
        theirs = pd.read_parquet(ref_root / ref["table"])
        if not {"var", "var_lo", "var_hi"} <= set(ours.columns) & set(theirs.columns):
            continue
        skip = {"n_seeds", "n_nonfinite", "n_var"}
        keys = [
            c
            for c in ours.columns
            if c in theirs.columns and c not in skip and not pd.api.types.is_float_dtype(ours[c])
        ]
        both = ours.merge(theirs, on=keys, suffixes=("", "_ref"))
        lo = np.maximum(both["var_lo"], both["var_lo_ref"])
        hi = np.minimum(both["var_hi"], both["var_hi_ref"])
        valid = both[["var_lo", "var_hi", "var_lo_ref", "var_hi_ref"]].notna().all(axis=1)
        overlap = (lo <= hi) & valid
        agreement[row["name"]] = {
            "cells": int(valid.sum()),
            "intervals_overlap": int(overlap.sum()),
            "fraction": float(overlap.sum() / valid.sum()) if valid.sum() else None,
            "wall_s_ratio": row["wall_s"] / ref["wall_s"] if ref.get("wall_s") else None,
        }
    return {
        "reference": str(reference_path),
        "reference_device": reference.get("device"),
        "throughput_ratio": ratios,
        "experiments": agreement,
    }


def run(
    *,
    out: Path,
    quick: bool = False,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    benchmarks: Sequence[str] | None = None,
    experiments: Mapping[str, int | None] | None = None,
    reference: Path | None = None,
    verbose: bool = True,
) -> dict[str, Any]:
    """Runs the parts within ``budget_seconds`` and writes the summary (module docstring); returns it."""
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    benchmarks = list(BENCHMARKS) if benchmarks is None else list(benchmarks)
    experiments = dict((QUICK_EXPERIMENTS if quick else EXPERIMENTS) if experiments is None else experiments)

    def left() -> float:
        return budget_seconds - (time.perf_counter() - t0)

    result: dict[str, Any] = {
        "schema": SCHEMA,
        "quick": quick,
        "budget_seconds": budget_seconds,
        "device": device_info(),
        "load_average": {"before": load_average()},
        "benchmarks": [],
        "experiments": [],
    }
    for name in benchmarks:
        if name not in BENCHMARKS:
            raise ValueError(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
        row = benchmark_row(name, out, quick or name in ALWAYS_QUICK, left())
        result["benchmarks"].append(row)
        if verbose:
            print(f"bench {name}: {row['status']} in {row['wall_s']:.0f} s", file=sys.stderr)
    for name, seeds in experiments.items():
        row = experiment_row(name, seeds, out, left())
        result["experiments"].append(row)
        if verbose:
            print(f"run {name}: {row['status']} in {row['wall_s']:.0f} s", file=sys.stderr)
    result["load_average"]["after"] = load_average()
    result["wall_seconds"] = time.perf_counter() - t0
    result["within_budget"] = result["wall_seconds"] <= budget_seconds + 5.0
    if reference is not None:
        result["comparison"] = compare(result, out, Path(reference))
    write_report(out, JSON_FILE, MARKDOWN_FILE, result, render_markdown(result))
    return result


def _num(x: Any, fmt: str = ".3g") -> str:
    return "n/a" if x is None else format(x, fmt)


def render_markdown(result: Mapping[str, Any]) -> str:
    dev = result["device"]
    lines = [
        "# pgjax: every benchmark and a short run of each default experiment",
        "",
        f"Device: JAX platform `{dev.get('platform')}`, device kind `{dev.get('device_kind')}` x {dev.get('count')} "
        f"(jax {dev.get('jax')}); CPU {dev.get('cpu')} ({dev.get('cores')} cores). Mode: "
        f"{'quick' if result['quick'] else 'full'}; budget {result['budget_seconds']:.0f} s, wall "
        f"{result['wall_seconds']:.0f} s. Load average before {result['load_average']['before']}, after "
        f"{result['load_average']['after']}.",
        "",
        "## Benchmarks",
        "",
        "| benchmark | mode | status | throughput | micro-batch (samples) | wall (s) |",
        "|---|---|---|---:|---:|---:|",
    ]
    for row in result["benchmarks"]:
        rate = f"{row['throughput']:.4g} {row['unit']}" if row.get("throughput") else "n/a"
        lines.append(
            f"| {row['name']} | {'quick' if row['quick'] else 'full'} | {row['status']} | {rate} | "
            f"{_num(row.get('micro_batch_elements'), 'd') if isinstance(row.get('micro_batch_elements'), int) else 'n/a'} | "
            f"{row['wall_s']:.1f} |"
        )
    lines += ["", "## Experiments (short runs, no figures)", ""]
    lines += [
        "| experiment | arguments | status | wall (s) | micro-batch (samples) | device |",
        "|---|---|---|---:|---:|---|",
    ]
    for row in result["experiments"]:
        lines.append(
            f"| {row['name']} | `{' '.join(row['args'][2:])}` | {row['status']} | {row['wall_s']:.1f} | "
            f"{row.get('micro_batch_elements') or 'n/a'} | {row.get('device_kind') or 'n/a'} |"
        )
    failed = [r for r in result["benchmarks"] + result["experiments"] if r["status"] != "ok"]
    if failed:
        lines += [
            "",
            "Not finished: " + "; ".join(f"{r['name']}: {r['status']} ({r.get('reason', '')})" for r in failed),
        ]
    comp = result.get("comparison")
    if comp:
        ref_dev = comp.get("reference_device") or {}
        lines += [
            "",
            f"## Against {comp['reference']} (device kind `{ref_dev.get('device_kind')}`)",
            "",
            "| benchmark | this | reference | this / reference | same mode |",
            "|---|---:|---:|---:|---|",
        ]
        for name, r in comp["throughput_ratio"].items():
            lines.append(
                f"| {name} | {r['this']:.4g} | {r['reference']:.4g} | **{r['ratio']:.3g}x** | {r['same_mode']} |"
            )
        lines += [
            "",
            "Experiments run with the same arguments in both: cells of `table.parquet` whose variance intervals "
            "[var_lo, var_hi] overlap.",
            "",
            "| experiment | cells | intervals overlap | fraction | wall this / reference |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, a in comp["experiments"].items():
            lines.append(
                f"| {name} | {a['cells']} | {a['intervals_overlap']} | {_num(a['fraction'])} | {_num(a['wall_s_ratio'])} |"
            )
    lines += ["", "Generated by `pgjax bench --all`."]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pgjax bench --all", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the benchmarks' quick sizes and one short experiment")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument(
        "--budget-seconds",
        type=float,
        default=DEFAULT_BUDGET_SECONDS,
        help="stop within this many seconds (default 480)",
    )
    parser.add_argument("--compare", type=Path, default=None, help="a bench-all.json of another device to compare with")
    parser.add_argument(
        "--benchmarks", default=None, help=f"comma-separated subset of {','.join(BENCHMARKS)} ('none': no benchmark)"
    )
    parser.add_argument(
        "--experiments",
        default=None,
        help="comma-separated NAME or NAME:SEEDS to run instead of the defaults ('none': no experiment)",
    )
    return parser


def _names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [] if text.strip() == "none" else [t.strip() for t in text.split(",") if t.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    """``pgjax bench --all ...``; returns the exit code (1 when a part failed or ran out of budget)."""
    from pgjax.errors import ConfigError

    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.budget_seconds <= 0:
        raise ConfigError("budget_seconds", f"must be positive (got {args.budget_seconds})")
    if args.compare is not None and not args.compare.is_file():
        raise ConfigError("compare", f"{args.compare} is not a file")
    benchmarks = _names(args.benchmarks)
    unknown = [b for b in benchmarks or [] if b not in BENCHMARKS]
    if unknown:
        raise ConfigError("benchmarks", f"unknown {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
    experiments = None
    names = _names(args.experiments)
    if names is not None:
        experiments = {}
        for item in names:
            name, _, seeds = item.partition(":")
            if seeds and not seeds.isdigit():
                raise ConfigError("experiments", f"{item!r}: the seeds after ':' must be a positive integer")
            experiments[name] = int(seeds) if seeds else None
    result = run(
        out=args.out,
        quick=args.quick,
        budget_seconds=args.budget_seconds,
        benchmarks=benchmarks,
        experiments=experiments,
        reference=args.compare,
    )
    print(f"wrote {Path(args.out) / JSON_FILE} and {Path(args.out) / MARKDOWN_FILE} in {result['wall_seconds']:.0f} s")
    parts = result["benchmarks"] + result["experiments"]
    return 0 if all(row["status"] == "ok" for row in parts) else 1
