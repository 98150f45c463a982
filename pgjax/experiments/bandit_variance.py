"""Variance of gradient estimates against sample size on the linear-Gaussian bandit.

The foundation experiment, variance-vs-n on the bandit family with its defaults
(:mod:`pgjax.experiments.variance_vs_n`): a ~ N(theta . s, sigma^2) with a fixed (or Gaussian) state s and a
reward r(a); for every estimator and every n in a grid, R seeds give R independent n-sample gradient
estimates, compared with the exact gradient jax.grad(J). The table reports bias, variance with a 95% CI (a
bootstrap-t with extrapolated tails; pgjax.analysis.stats), n x variance, MSE, the exact variance where it is
known, and each estimator's paired variance ratio against plain REINFORCE.
"""

from __future__ import annotations

from pgjax.experiment import ExperimentResult
from pgjax.experiments import variance_vs_n

NAME = "bandit-variance"

#: The bandit family's config of variance-vs-n; its defaults are this experiment's.
Config = variance_vs_n.BanditConfig


def run(config: Config = Config(), *, progress=None, execution: dict | None = None) -> ExperimentResult:
    """variance-vs-n on the bandit (:func:`pgjax.experiments.variance_vs_n.run_family`); nothing is written
    (see :func:`pgjax.experiment.save`). ``execution``: run_sweep keywords saying how to run, as ``pgjax run``
    passes them."""
    return variance_vs_n.run_family(config, experiment=NAME, progress=progress, execution=execution)


def readme_excerpt(table) -> str:
    """The README's summary table: at the largest n, n x variance (95% CI) against its exact value, and
    the variance ratio against REINFORCE on the same seeds."""
    import pandas as pd

    n_max = int(table["n"].max())
    rows = table[table["n"] == n_max]
    fmt = lambda x: "–" if pd.isna(x) else f"{x:.3g}"
    lines = [
        "| estimator | param | n x var (95% CI) | n x exact var | var / var(reinforce) (95% CI) |",
        "|---|---|---|---|---|",
    ]
    for row in rows.itertuples():
        lines.append(
            f"| {row.estimator} | {row.param} | {fmt(n_max * row.var)} ({fmt(n_max * row.var_lo)}, "
            f"{fmt(n_max * row.var_hi)}) | {fmt(n_max * row.var_exact)} | {fmt(row.var_ratio)} "
            f"({fmt(row.var_ratio_lo)}, {fmt(row.var_ratio_hi)}) |"
        )
    return "\n".join(lines)


README_MARKERS = ("<!-- excerpt:bandit-variance -->", "<!-- /excerpt:bandit-variance -->")


def readme_with_excerpt(readme: str, table) -> str:
    """``readme`` with the text between the excerpt markers replaced by :func:`readme_excerpt`."""
    from pgjax.io import with_excerpt

    return with_excerpt(readme, README_MARKERS, readme_excerpt(table))


if __name__ == "__main__":  # python -m pgjax.experiments.bandit_variance: refresh the README excerpt
    from pathlib import Path

    from pgjax.io import atomic_write_text, read_table

    readme = Path("README.md")
    atomic_write_text(readme, readme_with_excerpt(readme.read_text(), read_table(Path("results") / NAME)))


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks).
HOOKS = variance_vs_n.family_hooks("bandit")
