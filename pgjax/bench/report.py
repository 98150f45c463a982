"""What every benchmark reports besides its timings: load average, core count, package versions, rates in
G/M/k, and the JSON + Markdown pair written atomically. No jax import here, so a benchmark that must set up
its processes before jax starts (``pgjax.bench.scaling``) can use it too."""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the platform has none): benchmarks record them."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def cpu_model() -> str | None:
    """The CPU's model name (from /proc/cpuinfo on Linux), or None."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def package_version(name: str) -> str | None:
    """The installed version of a distribution, or None."""
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return None


def format_rate(x: float) -> str:
    """A rate with a G/M/k suffix for the reports."""
    if x >= 1e9:
        return f"{x / 1e9:.2f} G"
    if x >= 1e6:
        return f"{x / 1e6:.1f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f} "


def jsonable(value: Any) -> Any:
    """Plain JSON values: mappings and sequences recursively, numpy scalars as Python ones, NaN and
    infinities as None."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_report(
    out_dir: Path | str, json_name: str, markdown_name: str, result: Mapping[str, Any], markdown: str
) -> tuple[Path, Path]:
    """Writes ``result`` as JSON and ``markdown`` into ``out_dir`` (created if needed), each atomically."""
    from pgjax.io import atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(jsonable(result), indent=2, allow_nan=False) + "\n"
    return atomic_write_text(out / json_name, text), atomic_write_text(out / markdown_name, markdown)
