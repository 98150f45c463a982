"""Every number the README states comes from a committed results file, and this file checks that it does.

Each test reads one claim's source (``results/<experiment>/table.parquet``, ``curves.parquet``,
``improvement.parquet``, ``values.parquet``, ``manifest.json``, ``results/bench/*.json``), computes the
number(s) with the README's own rounding, builds the README's sentence fragment from them and asserts that
the fragment is in the README (whitespace and line breaks ignored). Nothing here hard-codes a result: when the
results are regenerated, a failing test prints what it computed and the exact text the README should read, so
the README can be updated from the failure messages alone.

Configuration facts the README states (seeds, sample sizes, horizons) are checked against the manifests'
``config``. Qualitative claims that rest on a number ("halves", "level with", "never gets there") are checked
as facts, with the numbers in the message. Reading files only: a few seconds, no JAX.

The bandit excerpt table is checked by ``tests/test_readme.py``.
"""

from __future__ import annotations

import ast
import functools
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"

NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}
FRACTION_WORDS = {2: "a half", 3: "a third", 4: "a quarter", 5: "a fifth"}


# ----------------------------------------------------------------------------------------------- helpers


def _flat(text: str) -> str:
    return " ".join(text.split())


@functools.cache
def readme() -> str:
    return _flat((ROOT / "README.md").read_text())


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: the README quotes it", pytrace=False)
    return path


@functools.cache
def table(experiment: str, name: str = "table") -> pd.DataFrame:
    return pd.read_parquet(_require(RESULTS / experiment / f"{name}.parquet"))


@functools.cache
def manifest(experiment: str) -> dict:
    return json.loads(_require(RESULTS / experiment / "manifest.json").read_text())


@functools.cache
def bench(name: str) -> dict:
    return json.loads(_require(RESULTS / "bench" / f"{name}.json").read_text())


def sig(x: float, digits: int = 2) -> str:
    """``digits`` significant figures, trailing zeros kept (0.030, 0.43, 5.8); whole numbers at or above
    10^digits (2397)."""
    if abs(x) >= 10**digits:
        return f"{x:.0f}"
    return f"{x:#.{digits}g}".rstrip(".")


def num(x: float) -> str:
    """A configuration number as the README writes it: 1.0 -> 1, 0.5 -> 0.5, -0.3 -> -0.3."""
    return f"{x:g}"


def ceil_1sig(x: float) -> str:
    """An upper bound with one significant figure, in e-notation: 3.55e-15 -> 4e-15."""
    e = math.floor(math.log10(x))
    m = math.ceil(x / 10**e - 1e-9)
    if m == 10:
        m, e = 1, e + 1
    return f"{m}e{e:+03d}".replace("e+", "e").replace("e-0", "e-")


def ceil_to(x: float, decimals: int = 1) -> str:
    """An upper bound rounded up to ``decimals`` decimals: 3.477 -> 3.5, 0.624 -> 0.7."""
    f = 10**decimals
    return f"{math.ceil(x * f - 1e-9) / f:.{decimals}f}"


def iqm_text(row) -> str:
    """``210 [180, 242]``: an IQM with its 95% bootstrap interval, whole numbers."""
    return f"{row['iqm']:.0f} [{row['iqm_lo']:.0f}, {row['iqm_hi']:.0f}]"


def auc_text(row) -> str:
    return f"{row['auc_iqm']:.0f} [{row['auc_iqm_lo']:.0f}, {row['auc_iqm_hi']:.0f}]"


def words(k: int) -> str:
    return NUMBER_WORDS.get(k, str(k))


class Claims:
    """Collects every mismatch of one README claim and fails once, listing them all.

    ``text(fragment, **computed)``: the README must contain ``fragment`` (whitespace-insensitive); on a
    mismatch the message gives the computed values, the expected text and what the README now says there
    (found from ``anchor``, by default the words of the fragment before its first digit).
    ``fact(ok, what, **computed)``: a statement the README makes that is not a literal number.
    """

    def __init__(self, claim: str, *sources: str):
        self.claim = claim
        self.sources = sources
        self.problems: list[str] = []

    def __enter__(self) -> Claims:
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None and self.problems:
            head = f"README claim '{self.claim}' (source: {', '.join(self.sources)}):"
            pytest.fail("\n".join([head, *self.problems]), pytrace=False)
        return False

    @staticmethod
    def _values(computed: dict) -> str:
        def show(v):
            if isinstance(v, float):
                return f"{v:.6g}"
            if isinstance(v, (list, tuple)):
                return "[" + ", ".join(show(x) for x in v) + "]"
            if isinstance(v, dict):
                return "{" + ", ".join(f"{k}: {show(x)}" for k, x in v.items()) + "}"
            return str(v)

        return ", ".join(f"{k} = {show(v)}" for k, v in computed.items())

    def text(self, fragment: str, anchor: str | None = None, **computed) -> None:
        expected = _flat(fragment)
        if expected in readme():
            return
        if anchor is None:
            m = re.search(r"[-\d]", expected)
            anchor = expected[: m.start()].strip() if m else expected
        message = [
            f"  computed from the results: {self._values(computed)}" if computed else "",
            f"  the README should read: {expected!r}",
        ]
        if len(anchor) >= 6 and anchor in readme():
            at = readme().index(anchor)
            message.append(f"  the README now reads:   {readme()[at : at + len(expected) + 20]!r}")
        else:
            message.append("  (the surrounding sentence was not found in the README either)")
        self.problems.append("\n".join(line for line in message if line))

    def fact(self, ok: bool, what: str, **computed) -> None:
        if not ok:
            self.problems.append(f"  no longer true: {what}\n  computed from the results: {self._values(computed)}")


# ------------------------------------------------------------------------------------------ introduction


def test_first_run_takes_under_forty_seconds():
    scaling = bench("scaling")
    cold = scaling["compile_cache"]["runs"]["cold"]
    m = manifest("bandit-variance")
    run_default = sum(m["run_seconds"].values())
    compile_default = sum(m["compile_seconds"].values())
    # The cold-cache wall time of the whole command (start-up, compilation, tables, figures) was measured with
    # --n-seeds 200; the default's longer run adds the difference of the two runs' run_seconds.
    worst = max(r["wall_seconds"] - r["run_seconds"] for r in cold) + run_default
    cores = scaling["device_info"]["cpu_cores"]
    with Claims("default experiment time", "results/bench/scaling.json", "results/bandit-variance/manifest.json") as c:
        c.text(f"(under 40 seconds on a {cores}-core CPU, about half of it compilation;", cores=cores)
        c.fact(
            worst < 40,
            "the default experiment's first run takes under 40 seconds",
            worst_wall_seconds=worst,
            cold_runs=[r["wall_seconds"] for r in cold],
            run_seconds=run_default,
        )
        c.fact(
            compile_default > 0.5 * (compile_default + run_default)
            and all(0.35 < r["compile_seconds"] / r["wall_seconds"] < 0.65 for r in cold),
            "about half of the first run is compilation (most of the sweep's own time)",
            compile_seconds=compile_default,
            run_seconds=run_default,
            cold=[(r["compile_seconds"], r["wall_seconds"]) for r in cold],
        )


# -------------------------------------------------------------------------------------------- the bandit


def test_bandit_setup_matches_config():
    cfg = manifest("bandit-variance")["config"]
    ns = cfg["ns"]
    with Claims("bandit set-up", "results/bandit-variance/manifest.json") as c:
        c.text(
            f"s = ({', '.join(num(v) for v in cfg['state'])}), theta = ({', '.join(num(v) for v in cfg['theta'])}), "
            f"sigma = {num(cfg['sigma'])}, reward r(a) = -(a - {num(cfg['reward_target'])})^2",
            config=cfg,
        )
        c.fact(cfg["reward"] == "quadratic" and cfg["state_std"] == 0, "quadratic reward, fixed state", config=cfg)
        c.fact(ns == [2**i for i in range(len(ns))], "n doubles from 1", ns=ns)
        c.text(
            f"n = {ns[0]}, {ns[1]}, {ns[2]}, ..., {ns[-1]}, {cfg['n_seeds']} seeds give {cfg['n_seeds']} independent",
            ns=ns,
            n_seeds=cfg["n_seeds"],
        )


def test_bandit_variance_ratios():
    t = table("bandit-variance")
    n = t["n"].max()  # exact variances: the ratios are the same at every n
    ex = t[t.n == n].pivot_table(index="param", columns="estimator", values="var_exact")
    bstar = ex.optimal_baseline_exact / ex.reinforce
    pw = ex.reinforce / ex.pathwise
    pw_b = ex.optimal_baseline_exact / ex.pathwise

    def span(r):
        lo, hi = round(r.min()), round(r.max())
        return f"{lo}" if lo == hi else f"{lo} to {hi}"

    bstar_text = " to ".join(dict.fromkeys(sig(v) for v in sorted(bstar)))
    with Claims("b* and pathwise against REINFORCE", "results/bandit-variance/table.parquet (var_exact)") as c:
        c.fact(0.4 <= bstar.min() and bstar.max() <= 0.6, "b* halves REINFORCE's variance", ratio=bstar.to_dict())
        c.text(f"b* halves REINFORCE's variance (exact ratio {bstar_text})", ratio=bstar.to_dict())
        c.text(
            f"has {span(pw)} times less variance than REINFORCE on this smooth reward ({span(pw_b)} times less "
            "than b*)",
            reinforce_over_pathwise=pw.to_dict(),
            bstar_over_pathwise=pw_b.to_dict(),
        )


def test_bandit_batch_mean_relative_bias_is_one_over_n():
    t = table("bandit-variance")
    bm = t[t.estimator == "batch_mean_baseline"].copy()
    one = bm[bm.n == 1]
    rest = bm[bm.n > 1]
    z = ((rest.bias + rest.true_grad / rest.n) / rest.bias_se).abs()
    with Claims("batch-mean relative bias 1/n", "results/bandit-variance/table.parquet") as c:
        c.text("so is the batch-mean baseline, whose relative bias is exactly 1/n")
        c.fact(
            np.allclose(one.bias / one.true_grad, -1.0),
            "relative bias -1 at n = 1",
            relative_bias=(one.bias / one.true_grad).tolist(),
        )
        c.fact(z.max() < 4, "measured bias within 4 standard errors of -grad/n at every n > 1", max_abs_z=z.max())


# ------------------------------------------------------------------------------------- Mohamed et al.


def test_mohamed_setup_matches_config():
    with Claims("Mohamed et al. set-up", "results/mohamed2020-fig{2,3}/manifest.json") as c:
        for fig, functions in (("mohamed2020-fig2", ["quadratic"]), ("mohamed2020-fig3", ["exp", "cos"])):
            m = manifest(fig)
            cfg = m["config"]
            c.fact(cfg["mu"] == cfg["sigma"] == 1.0, "mu = sigma = 1", figure=fig, mu=cfg["mu"], sigma=cfg["sigma"])
            c.fact(
                m["ns"] == [1] and cfg["functions"] == functions,
                "single-sample estimates of the paper's functions",
                figure=fig,
                ns=m["ns"],
                functions=cfg["functions"],
            )
            c.text(
                f"markers are the variance of {cfg['n_seeds']} single-sample estimates",
                figure=fig,
                n_seeds=cfg["n_seeds"],
            )
        c.text(f"at mu = sigma = {num(manifest('mohamed2020-fig2')['config']['mu'])}, against k")


def _mc_coverage(experiment: str) -> tuple[int, int]:
    t = table(experiment)
    inside = (t.var_lo <= t.var_exact) & (t.var_exact <= t.var_hi)
    return int(inside.sum()), len(t)


def _coverage_text(inside: int, total: int) -> str:
    if inside == total:
        return f"All {total} Monte Carlo intervals contain the exact value"
    return f"{inside} of the {total} Monte Carlo intervals contain the exact value"


def test_mohamed_fig2_claims():
    mu = manifest("mohamed2020-fig2")["config"]["mu"]
    v = table("mohamed2020-fig2", "values")
    curve = v[v.grid == "curve"].pivot_table(index=["param", "k"], columns="estimator", values="var_exact")
    mu_curve = curve.xs("mu", level="param")
    allv = v.pivot_table(index=["param", "k", "grid"], columns="estimator", values="var_exact")
    pw_mu = allv.xs("mu", level="param").pathwise
    flat_pw = np.unique(pw_mu.round(9))

    # Where the coupled measure-valued estimator beats pathwise: an interval around k = mu, edges by linear
    # interpolation of the exact curves.
    k = mu_curve.index.to_numpy()
    d = (mu_curve.measure_valued_coupled - mu_curve.pathwise).to_numpy()
    below = d < 0
    edges = []
    for i in range(len(k) - 1):
        if below[i] != below[i + 1]:
            edges.append(k[i] + (k[i + 1] - k[i]) * d[i] / (d[i] - d[i + 1]))
    half = [abs(e - mu) for e in edges]
    vanish = mu_curve.measure_valued_coupled.loc[np.isclose(k, mu)]

    ratio = curve.reinforce / curve[["pathwise", "measure_valued_coupled"]].max(axis=1)
    inside, total = _mc_coverage("mohamed2020-fig2")

    t = table("mohamed2020-fig2")
    s = t[(t.estimator == "reinforce") & (t.param == "sigma")]
    shortfall = 100 * (1 - s["var"] / s.var_exact)
    sf_lo, sf_hi = round(shortfall.min()), round(shortfall.max())
    with Claims("Figure 2", "results/mohamed2020-fig2/values.parquet", "results/mohamed2020-fig2/table.parquet") as c:
        c.fact(len(flat_pw) == 1, "pathwise mu-variance is flat in k", pathwise_mu=flat_pw.tolist())
        c.text(f"pathwise is flat at {num(flat_pw[0])} for mu", pathwise_mu=flat_pw.tolist())
        c.fact(
            len(vanish) == 1 and abs(vanish.iloc[0]) < 1e-12,
            "coupled measure-valued mu-variance vanishes at k = mu",
            value=vanish.tolist(),
        )
        c.fact(
            len(edges) == 2 and round(half[0], 1) == round(half[1], 1),
            "the measure-valued estimator beats pathwise on one interval symmetric about k = mu",
            edges=edges,
        )
        if half:
            c.text(f"beats pathwise for |k - {num(mu)}| < {min(half):.1f}", edges=edges, half_widths=half)
        c.text(
            f"the score function stays {sig(ratio.min())} to {sig(ratio.max())} times above both",
            min_ratio=ratio.min(),
            max_ratio=ratio.max(),
        )
        c.text(_coverage_text(inside, total), inside=inside, total=total)
        c.fact(
            bool((shortfall > 0).all()),
            "the score-function sigma points are all below the curve",
            shortfall_percent=shortfall.tolist(),
        )
        c.fact(
            bool(((s.var_lo <= s.var_exact) & (s.var_exact <= s.var_hi)).all()),
            "the score-function sigma intervals all contain the curve",
            lo=s.var_lo.tolist(),
            hi=s.var_hi.tolist(),
        )
        c.text(f"sit {sf_lo}-{sf_hi}% below the curve at every k", shortfall_percent=shortfall.tolist())


def test_mohamed_fig3_claims():
    inside, total = _mc_coverage("mohamed2020-fig3")
    v = table("mohamed2020-fig3", "values")
    curve = v[(v.grid == "curve") & (v.param == "mu")].pivot_table(
        index=["function", "k"], columns="estimator", values="var_exact"
    )
    lowest = curve.idxmin(axis=1)
    with Claims("Figure 3", "results/mohamed2020-fig3/table.parquet", "results/mohamed2020-fig3/values.parquet") as c:
        c.fact(
            bool((lowest == "measure_valued_coupled").all()),
            "the coupled measure-valued estimator has the lowest mu-variance at every k",
            others=lowest[lowest != "measure_valued_coupled"].to_dict(),
        )
        misses = total - inside
        if misses:
            c.text(
                f"{inside} of the {total} Monte Carlo intervals contain the exact value; the {words(misses)} misses "
                "share one set of seeds",
                inside=inside,
                total=total,
            )
        else:
            c.text(_coverage_text(inside, total), inside=inside, total=total)


def test_kool2020_bernoulli_claims():
    m = manifest("kool2020-bernoulli")
    cfg = m["config"]
    t = table("kool2020-bernoulli")
    exact = t.pivot_table(index=["eta", "n"], columns="estimator", values="var_exact")
    k = 4

    def at(eta: float, name: str, n: int = k) -> str:
        return sig(exact.loc[(eta, n), name])

    nonzero = t[t.var_exact > 1e-20 * t.var_exact.max()]
    inside = int(((nonzero.var_lo <= nonzero.var_exact) & (nonzero.var_exact <= nonzero.var_hi)).sum())
    middle = exact.loc[0.0].loc[2:7]
    lowest = middle.idxmin(axis=1)
    plateau = exact.loc[-4.0].loc[7:, ["sum_and_sample_baseline", "sum_and_sample_stochastic_baseline"]]
    summed = exact.loc[(slice(None), 8), ["sum_and_sample", "sum_and_sample_stochastic", "unordered_set"]]
    with Claims("Kool et al. 2020", "results/kool2020-bernoulli/table.parquet", "manifest.json") as c:
        c.text(f"p0 = ({', '.join(num(x) for x in cfg['target'])})", target=cfg["target"])
        c.text(f"at eta = {num(cfg['etas'][0])} (eight equally likely outcomes) and eta = {num(cfg['etas'][1])}")
        c.text(f"for k = {min(cfg['ns'])} ... {max(cfg['ns'])} samples", ns=cfg["ns"])
        c.text(f"over {cfg['n_seeds']} seeds with 95% intervals", n_seeds=cfg["n_seeds"])
        c.text(
            f"At eta = 0 with k = {k} samples the variance is {at(0.0, 'reinforce')} for REINFORCE, "
            f"{at(0.0, 'leave_one_out')} with the leave-one-out baseline, {at(0.0, 'unordered_set')} for the "
            f"unordered set estimator and {at(0.0, 'unordered_set_baseline')} with its built-in baseline"
        )
        c.fact(
            bool((lowest == "unordered_set_baseline").all()),
            "the unordered set estimator with its built-in baseline is the lowest at eta = 0 for k = 2 ... 7",
            lowest=lowest.to_dict(),
        )
        c.text(
            f"At eta = -4 with k = {k} it is {at(-4.0, 'reinforce')} for REINFORCE, {at(-4.0, 'leave_one_out')} with "
            f"the leave-one-out baseline, {at(-4.0, 'unordered_set')} for the unordered set estimator and "
            f"{at(-4.0, 'unordered_set_baseline')} with its built-in baseline"
        )
        c.fact(
            exact.loc[(-4.0, k), "unordered_set"] < exact.loc[(-4.0, 1), "unordered_set"] / k / 100,
            "without replacement the variance falls far faster than 1/k at eta = -4",
        )
        values = {sig(v) for v in plateau.to_numpy().ravel()}
        c.fact(len(values) == 1, "the sampled baselines stop at one value from k = 7 on", values=sorted(values))
        c.text(f"the sampled baselines of sum-and-sample stop at {sorted(values)[0]} (their own samples' variance)")
        c.fact(bool((summed.to_numpy() < 1e-30).all()), "k = 8 sums every outcome: the exact gradient")
        c.text(
            f"{inside} of the {len(nonzero)} Monte Carlo intervals with a nonzero exact variance contain it",
            inside=inside,
            total=len(nonzero),
        )


def test_test_function_variance_claims():
    m = manifest("test-function-variance")
    cfg = m["config"]
    D = len(cfg["mu"])
    t = table("test-function-variance")
    one = t[t.n == t.n.min()]
    exact_work = one.pivot_table(index="param", columns="estimator", values="var_exact") * one.pivot_table(
        index="param", columns="estimator", values="evals_per_sample"
    )
    mvc_over_pw = exact_work.measure_valued_coupled / exact_work.pathwise
    sigma_ratio = mvc_over_pw[[p for p in mvc_over_pw.index if p.startswith("sigma")]]
    mu1 = mvc_over_pw["mu[0]"]
    evals = t[t.estimator == "measure_valued_coupled"].evals_per_sample.unique()
    work = t[t["var"] > 0].pivot_table(index=["n", "param"], columns="estimator", values="work_var")
    cheapest_mu2 = work.xs("mu[1]", level="param").idxmin(axis=1)
    lo, hi = round(sigma_ratio.min()), round(sigma_ratio.max())
    times = f"{lo}" if lo == hi else f"{lo} to {hi}"
    with Claims(
        "test-function-variance",
        "results/test-function-variance/table.parquet",
        "results/test-function-variance/manifest.json",
    ) as c:
        c.fact(
            cfg["function"] == "cos" and cfg["k"] == 1 and cfg["sigma"] == [1.0] * D,
            "f = sum cos(x_d), sigma = 1",
            config=cfg,
        )
        terms = " + ".join(f"cos(x_{d + 1})" for d in range(D))
        c.text(
            f"on f(x) = {terms}, x ~ N(({', '.join(num(v) for v in cfg['mu'])}), I), for n = {cfg['ns'][0]} ... "
            f"{cfg['ns'][-1]}",
            config=cfg,
        )
        c.fact(list(evals) == [4 * D], "the coupled measure-valued estimator costs 4D evaluations", evals=list(evals))
        c.text(f"its 4D = {4 * D} evaluations per sample", D=D)
        c.fact(
            bool((cheapest_mu2 == "measure_valued_coupled").all()),
            "measure-valued is the cheapest for mu_2 at every n",
            cheapest=cheapest_mu2.to_dict(),
        )
        c.fact(
            2 / 3 <= mu1 <= 3 / 2,
            "measure-valued is level with pathwise for mu_1 (cost ratio within 2/3 to 3/2)",
            exact_cost_ratio_mu1=mu1,
        )
        c.text(f"but is {times} times worse than pathwise for sigma", exact_cost_ratio=sigma_ratio.to_dict())


# ------------------------------------------------------------------------------------------------- LQR


def test_lqr_variance_ratios_at_largest_n():
    m = manifest("lqr-variance")
    cfg = m["config"]
    n = max(cfg["ns"])
    t = table("lqr-variance")
    r = t[(t.n == n) & (t.param == "K[0,0]")].set_index("estimator").var_ratio
    names = ["reward_to_go", "reward_to_go_optimal", "value_baseline", "gae", "pathwise"]
    with Claims("lqr-variance ratios", "results/lqr-variance/table.parquet", "results/lqr-variance/manifest.json") as c:
        c.fact(cfg["system"] == "double_integrator", "a double integrator", system=cfg["system"])
        c.text(
            f"variance against n on a double integrator, H = {cfg['horizon']}. At n = {n} the variance relative to "
            f"REINFORCE (coordinate K_00) is {sig(r.reward_to_go)} for reward-to-go, {sig(r.reward_to_go_optimal)} with "
            f"the optimal time-dependent baseline, {sig(r.value_baseline)} with the exact value baseline, "
            f"{sig(r.gae)} for GAE({num(cfg['gae_lambda'])}) and {sig(r.pathwise)} for pathwise",
            anchor="variance against n on a double integrator",
            n=n,
            var_ratio=r[names].to_dict(),
        )


def test_lqr_horizon_growth():
    cfg = manifest("lqr-horizon")["config"]
    t = table("lqr-horizon")
    k = t[t.param == "K[0,0]"]
    rf = k[k.estimator == "reinforce"].set_index("horizon")["var"].sort_index()
    h0, h1 = min(cfg["horizons"]), max(cfg["horizons"])
    slope = np.polyfit(np.log(rf.index.to_numpy(float)), np.log(rf.to_numpy()), 1)[0]
    last = k[k.horizon == h1].set_index("estimator").var_ratio
    with Claims("lqr-horizon", "results/lqr-horizon/table.parquet", "results/lqr-horizon/manifest.json") as c:
        c.fact(
            list(rf.index) == sorted(cfg["horizons"]),
            "every configured horizon is in the table",
            horizons=list(rf.index),
        )
        c.text(
            f"REINFORCE's variance grows from {sig(rf[h0])} at H = {h0} to {sig(rf[h1])} at H = {h1}, roughly as "
            f"H^{round(slope)}; at H = {h1} reward-to-go keeps {sig(last.reward_to_go)} of it, a value baseline "
            f"{sig(last.value_baseline)}, GAE {sig(last.gae)}",
            reinforce_var=rf.to_dict(),
            log_log_slope=slope,
            ratios_at_largest_H=last.to_dict(),
        )


def test_contextual_bandit_baselines():
    t = table("contextual-bandit-variance")
    cfg = manifest("contextual-bandit-variance")["config"]
    exact = t[t.n == 1].pivot(index="estimator", columns="param", values="var_exact")
    names = ["reinforce", "state_value_baseline", "optimal_baseline_exact", "optimal_state_baseline"]
    n = max(cfg["ns"])
    ratio = t[(t.n == n) & (t.param == "theta[0]")].set_index("estimator").loc["optimal_state_baseline"]
    source = "results/contextual-bandit-variance/table.parquet"
    with Claims("contextual bandit baselines", source, "results/contextual-bandit-variance/manifest.json") as c:
        for param in ("theta[0]", "theta[1]", "log_sigma"):
            v = exact[param]
            c.fact(
                v.optimal_state_baseline < min(v.state_value_baseline, v.optimal_baseline_exact),
                f"b*(s) has the smallest exact variance on {param}",
                exact=v[names].to_dict(),
            )
            c.fact(
                v.optimal_baseline_exact < v.state_value_baseline,
                f"the value baseline is worse than the best constant one on {param}",
                exact=v[names].to_dict(),
            )
        a, b = exact["theta[0]"], exact["log_sigma"]
        c.text(
            f"the exact single-sample variances of the theta_0 coordinate are {sig(a.reinforce)} (REINFORCE), "
            f"{sig(a.state_value_baseline)} (value baseline V(s)), {sig(a.optimal_baseline_exact)} (best constant "
            f"b*) and {sig(a.optimal_state_baseline)} (b*(s)); for log sigma {sig(b.reinforce)}, "
            f"{sig(b.state_value_baseline)}, {sig(b.optimal_baseline_exact)} and {sig(b.optimal_state_baseline)}",
            anchor="the exact single-sample variances of the theta_0 coordinate",
            theta0=a[names].to_dict(),
            log_sigma=b[names].to_dict(),
        )
        c.text(
            f"At n = {n} ({cfg['n_seeds']} seeds) b*(s) keeps {sig(ratio.var_ratio)} "
            f"[{sig(ratio.var_ratio_lo)}, {sig(ratio.var_ratio_hi)}] of REINFORCE's variance on theta_0 (exact "
            f"{sig(a.optimal_state_baseline / a.reinforce)})",
            ratio=ratio[["var_ratio", "var_ratio_lo", "var_ratio_hi"]].to_dict(),
        )


def test_wu2018_dimension():
    t = table("wu2018")
    cfg = manifest("wu2018")["config"]
    exact = t.pivot_table(index=["param", "dim"], columns="estimator", values="var_exact")
    d0, d1 = min(cfg["dims"]), max(cfg["dims"])
    mu, ls = exact.loc["mu[0]"], exact.loc["log_sigma[0]"]
    fact = lambda v, d: v.loc[d, "action_factorised_baseline"] / v.loc[d, "state_value_baseline"]
    big = lambda x: f"{x:.2g}".replace("e+0", "e").replace("e+", "e") if x >= 1e5 else sig(x)  # 1.6e7
    measured = t[(t.dim == d1) & (t.param == "mu[0]")].set_index("estimator").loc["action_factorised_baseline"]
    with Claims("wu2018", "results/wu2018/table.parquet", "results/wu2018/manifest.json") as c:
        flat = mu["action_factorised_baseline"]
        c.fact(bool(np.allclose(flat, flat.iloc[0], rtol=1e-9)), "the factorised baseline's variance is flat in D")
        c.text(
            f"the exact variance of the mean coordinate mu_0 goes from {sig(mu.loc[d0, 'reinforce'])} at D = {d0} to "
            f"{big(mu.loc[d1, 'reinforce'])} at D = {d1} without a baseline and from "
            f"{sig(mu.loc[d0, 'state_value_baseline'])} to {sig(mu.loc[d1, 'state_value_baseline'])} with the value "
            f"baseline, and stays {sig(flat.iloc[0])} with the action-dependent factorised baseline",
            anchor="the exact variance of the mean coordinate mu_0",
            mu=mu.loc[[d0, d1]].to_dict(),
        )
        c.text(
            f"its variance ratio to the value baseline is {sig(fact(mu, d0))} at D = {d0} and {sig(fact(mu, d1))} at "
            f"D = {d1} (log sigma: {sig(fact(ls, d0))} and {sig(fact(ls, d1))})",
            anchor="its variance ratio to the value baseline",
        )
        c.text(
            f"at D = {d1} the measured variance of mu_0 with the factorised baseline is {sig(measured['var'])} "
            f"[{sig(measured.var_lo)}, {sig(measured.var_hi)}] ({cfg['n_seeds']} seeds)",
            measured=measured[["var", "var_lo", "var_hi"]].to_dict(),
        )


def test_lqr_gae_bias():
    t = table("lqr-gae")
    exact = t[t.critic == "exact"]
    stationary = t[t.critic == "stationary"].copy()
    stationary["rel"] = (stationary.bias_exact / stationary.true_grad).abs()
    worst = stationary.loc[stationary.rel.idxmax()]
    at_zero = stationary[stationary.lam == 0].rel.max()
    z = ((t.bias - t.bias_exact) / t.bias_se).abs().dropna()
    bound = exact.bias_exact.abs().max()
    fraction = FRACTION_WORDS.get(round(1 / at_zero), f"{at_zero:.2f}")
    with Claims("lqr-gae", "results/lqr-gae/table.parquet") as c:
        c.text(f"(exact bias < {ceil_1sig(bound)})", max_abs_exact_bias=bound)
        c.fact(worst.lam == 0, "the stationary critic's bias is largest at lambda = 0", worst_lambda=worst.lam)
        c.text(f"up to {fraction} of the gradient at lambda = 0", max_relative_exact_bias_at_0=at_zero)
        c.fact(
            z.max() < 4,
            "the measured bias matches its exact value (within 4 standard errors everywhere)",
            max_abs_z=z.max(),
        )


def test_bench_lqr():
    b = bench("lqr")
    s = b["sizes"]
    with Claims("bench-lqr", "results/bench/lqr.json") as c:
        c.text(
            f"{s['n_seeds']} seeds x {s['n']} trajectories x H = {s['horizon']}, "
            f"{b['ratio_vs_numpy_vectorized']:.2f}x the best",
            sizes=s,
            ratio=b["ratio_vs_numpy_vectorized"],
        )
        fast = b["by_prng"]["threefry-fast"]["ratio_vs_numpy_vectorized"]
        c.text(f"and {fast:.2f}x with `--prng threefry-fast`", fast=fast)


# ----------------------------------------------------------------------------------- real environments


def test_bench_envs():
    b = bench("envs")
    rates = b["rates_steps_per_s"]
    with Claims("bench-envs", "results/bench/envs.json") as c:
        c.fact(b["environment"] == "CartPole-v1", "CartPole", environment=b["environment"])
        c.text(f"CartPole rollout plus REINFORCE gradient over {b['sizes']['seeds']} seeds", seeds=b["sizes"]["seeds"])
        c.text(
            f"{rates['ours_rollout_grad'] / 1e6:.1f} M steps/s with the gradient against gymnax's "
            f"{rates['gymnax_random'] / 1e6:.1f} M without, **{b['ratio_vs_gymnax_random']:.2f}x** (rollout alone "
            f"{b['ratio_rollout_only_vs_gymnax_random']:.2f}x; {b['device_info']['platform'].upper()}, "
            f"{b['device_info']['cpu_cores']} cores;",
            rates=rates,
            ratio=b["ratio_vs_gymnax_random"],
            rollout_ratio=b["ratio_rollout_only_vs_gymnax_random"],
        )
        c.text(
            f"and {rates['ours_rollout_grad_fast'] / 1e6:.1f} M steps/s, **{b['ratio_fast_vs_gymnax_random']:.2f}x**, "
            f"with `--prng threefry-fast` (the same episodes; most of that gain is the generator: gymnax given the "
            f"fast generator's keys runs {rates['gymnax_random_fast_keys'] / 1e6:.1f} M steps/s).",
            fast_ratio=b["ratio_fast_vs_gymnax_random"],
        )
        c.fact(b["checks"]["fast_path_same_episodes"], "the same episodes", same=b["checks"]["fast_path_same_episodes"])


def test_cartpole_reinforce_setup_and_timing():
    m = manifest("cartpole-reinforce")
    cfg = m["config"]
    secs = {v: t["compile_seconds"] + t["run_seconds"] for v, t in m["timings"].items()}
    critic = [v for v in secs if v in ("value_baseline", "gae")]
    plain = [v for v in secs if v not in critic]
    with Claims("cartpole-reinforce set-up and time", "results/cartpole-reinforce/manifest.json") as c:
        c.fact(cfg["learning_rates"] == [0.1] and cfg["optimiser"] == "adam", "Adam 0.1", config=cfg)
        c.text(
            f"{words(len(cfg['estimators']))} variants x {cfg['n_seeds']} seeds, {cfg['policy']} policy, "
            f"{cfg['episodes']} episodes per update, Adam {num(cfg['learning_rates'][0])}, {cfg['updates']} updates "
            f"({sum(secs.values()) / 60:.1f} minutes of compilation and training on a CPU: "
            f"{np.mean([secs[v] for v in plain]):.0f} s per variant, {np.mean([secs[v] for v in critic]):.0f} s for "
            f"each of the {words(len(critic))} with a critic)",
            seconds=secs,
        )


def test_cartpole_reinforce_final_iqm():
    t = table("cartpole-reinforce").set_index("variant")
    group = ["batch_mean_baseline", "leave_one_out", "value_baseline"]
    texts = {v: iqm_text(t.loc[v]) for v in t.index}
    with Claims("cartpole-reinforce final IQM", "results/cartpole-reinforce/table.parquet") as c:
        c.fact(
            len({texts[v] for v in group}) == 1,
            "batch-mean, leave-one-out and value baseline share one IQM",
            **{v: texts[v] for v in group},
        )
        c.text(
            f"REINFORCE {texts['reinforce']}, reward-to-go {texts['reward_to_go']}, batch-mean and leave-one-out "
            f"baselines and the value baseline {texts['leave_one_out']}, GAE {texts['gae']}",
            **texts,
        )


def test_cartpole_reinforce_improvement_and_threshold():
    m = manifest("cartpole-reinforce")
    p = (
        table("cartpole-reinforce", "improvement")
        .set_index(["variant_x", "variant_y"])
        .loc[("leave_one_out", "reinforce")]
    )
    curves = table("cartpole-reinforce", "curves")
    threshold = 0.95 * m["target"]

    def first(variant):
        c = curves[(curves.variant == variant) & (curves.iqm >= threshold)].sort_values("updates")
        return None if c.empty else c.iloc[0]

    loo, rtg, rf = first("leave_one_out"), first("reward_to_go"), first("reinforce")
    with Claims(
        "cartpole-reinforce improvement and time to threshold",
        "results/cartpole-reinforce/improvement.parquet",
        "results/cartpole-reinforce/curves.parquet",
        "results/cartpole-reinforce/manifest.json",
    ) as c:
        c.text(
            f"Leave-one-out beats plain REINFORCE with probability {p.probability:.2f} [{p.lo:.2f}, {p.hi:.2f}]",
            probability=p.probability,
            lo=p.lo,
            hi=p.hi,
        )
        c.fact(
            loo is not None and rtg is not None,
            "leave-one-out and reward-to-go reach 0.95 x the target",
            threshold=threshold,
        )
        c.fact(
            rf is None,
            "REINFORCE never reaches 0.95 x the target",
            reinforce_first=None if rf is None else int(rf.updates),
        )
        if loo is not None and rtg is not None:
            c.text(
                f"reaches an IQM of {threshold:.0f} after {loo.updates} updates ({loo.env_steps / 1000:.0f}k "
                f"environment steps); reward-to-go needs {rtg.updates} updates, REINFORCE never gets there",
                threshold=threshold,
                leave_one_out=(int(loo.updates), float(loo.env_steps)),
                reward_to_go=int(rtg.updates),
            )


def test_cartpole_reinforce_area_under_curve():
    t = table("cartpole-reinforce").set_index("variant")
    a = {v: auc_text(t.loc[v]) for v in t.index}
    with Claims("cartpole-reinforce area under the curve", "results/cartpole-reinforce/table.parquet") as c:
        c.text(
            f"the saturated final returns cannot: leave-one-out {a['leave_one_out']}, value baseline "
            f"{a['value_baseline']}, reward-to-go {a['reward_to_go']}, GAE {a['gae']}, REINFORCE {a['reinforce']}",
            **a,
        )


def _cartpole_variance_z() -> tuple[pd.DataFrame, bool]:
    """|bias| in standard errors that combine the estimate's and the reference's.

    A table made before ``bias_se`` combined the two has bias_se < reference_se somewhere (the reference's own
    standard error is then missing from it): combine them here as hypot(bias_se, reference_se). A regenerated
    table has bias_se >= reference_se everywhere and is used as it is.
    """
    t = table("cartpole-variance").copy()
    combined = bool((t.bias_se >= t.reference_se).all())
    se = t.bias_se if combined else np.hypot(t.bias_se, t.reference_se)
    t["z"] = t.bias.abs() / se
    return t, combined


def test_cartpole_variance_setup():
    m = manifest("cartpole-variance")
    cfg = m["config"]
    t = table("cartpole-variance")
    snaps = m["snapshots"]
    ref = {s["reference"]["estimator"] for s in snaps.values()}
    episodes = {s["reference"]["episodes"] * s["reference"]["batches"] for s in snaps.values()}
    n = max(cfg["ns"])
    cells = t.groupby(["snapshot", "n", "param"]).ngroups
    with Claims(
        "cartpole-variance set-up", "results/cartpole-variance/manifest.json", "results/cartpole-variance/table.parquet"
    ) as c:
        c.fact(
            cfg["snapshots"][0] == 0 and ref == {"leave_one_out"} and len(episodes) == 1,
            "snapshots from the initial policy; a leave-one-out reference",
            snapshots=cfg["snapshots"],
            reference=sorted(ref),
        )
        c.text(
            f"a mid-training ({cfg['snapshots'][1]} updates) and a trained ({cfg['snapshots'][2]} updates) snapshot",
            snapshots=cfg["snapshots"],
        )
        c.text(f"{cfg['n_seeds']} seeds per point", n_seeds=cfg["n_seeds"])
        c.text(f"({min(episodes):,} episodes of leave-one-out)", episodes=sorted(episodes))
        c.text(
            f"at most {ceil_to(100 * t.reference_var_fraction.max())}% of any variance it is compared with",
            max_reference_var_fraction=t.reference_var_fraction.max(),
        )
        c.text(f"At n = {n}, summed over the {t.param.nunique()} coordinates", n=n, coordinates=t.param.nunique())
        c.text(f"Over all {cells} (snapshot, n, coordinate) cells", cells=cells)


def test_cartpole_variance_ratios():
    cfg = manifest("cartpole-variance")["config"]
    t = table("cartpole-variance")
    n = max(cfg["ns"])
    g = t[t.n == n].groupby(["snapshot", "estimator"])["var"].sum().unstack()
    r = g.div(g.reinforce, axis=0)
    rtg = r.reward_to_go
    with Claims("cartpole-variance ratios at the largest n", "results/cartpole-variance/table.parquet") as c:
        c.text(
            f"reward-to-go {sig(rtg.min())} to {sig(rtg.max())}; leave-one-out {sig(r.leave_one_out['initial'])} at "
            f"the initial policy and {sig(r.leave_one_out['trained'])} at the trained one; the value baseline "
            f"{sig(r.value_baseline['initial'])} (worse than none) with the untrained initial critic but "
            f"{sig(r.value_baseline['trained'])} once trained; GAE({num(cfg['lam'])}) {sig(r.gae['trained'])} at the "
            "trained snapshot",
            anchor="reward-to-go",
            ratios=r.drop(columns="reinforce").to_dict("index"),
        )
        c.fact(
            r.value_baseline["initial"] > 1,
            "the value baseline is worse than none at the initial snapshot",
            ratio=r.value_baseline["initial"],
        )


def test_cartpole_variance_bias_in_standard_errors():
    t, combined = _cartpole_variance_z()
    gae = t[(t.estimator == "gae") & (t.snapshot == "trained")].z.max()
    unbiased = t[t.estimator.isin(["reinforce", "reward_to_go", "leave_one_out", "value_baseline"])].z.max()
    bm = t[t.estimator == "batch_mean_baseline"]
    worst = bm.loc[bm.z.idxmax()]
    source = "results/cartpole-variance/table.parquet (bias / " + (
        "bias_se)" if combined else "hypot(bias_se, reference_se): the table predates the combined bias_se)"
    )
    with Claims("cartpole-variance bias", source) as c:
        c.text(f"but biased: {gae:.0f} standard errors from the reference on one coordinate", gae_max_z=gae)
        c.text(f"stay within {ceil_to(unbiased)} standard errors of the reference", max_z=unbiased)
        c.text(
            f"the batch-mean baseline's exact -grad/n bias reaches {worst.z:.1f} at n = {worst.n}",
            batch_mean_max_z=worst.z,
            n=int(worst.n),
        )


def test_pendulum_gaussian():
    m = manifest("pendulum-gaussian")
    cfg = m["config"]
    t = table("pendulum-gaussian").set_index("variant")
    curves = table("pendulum-gaussian", "curves")
    first = curves[curves.point == 0].set_index("variant")
    initial = {v: round(first.loc[v].iqm, -2) for v in first.index}
    secs = sum(x["compile_seconds"] + x["run_seconds"] for x in m["timings"].values())
    tx = {v: iqm_text(t.loc[v]) for v in t.index}
    worse = [v for v in t.index if t.loc[v].iqm < first.loc[v].iqm]
    with Claims(
        "pendulum-gaussian",
        "results/pendulum-gaussian/table.parquet",
        "results/pendulum-gaussian/curves.parquet",
        "results/pendulum-gaussian/manifest.json",
    ) as c:
        c.fact(cfg["policy"] == "mlp-gaussian", "an MLP-Gaussian policy", policy=cfg["policy"])
        c.text(
            f"{words(len(cfg['estimators']))} variants x {cfg['n_seeds']} seeds, MLP-Gaussian policy "
            f"({', '.join(str(h) for h in cfg['hidden'])}), {cfg['episodes']} episodes of {cfg['horizon']} steps per "
            f"update, {cfg['updates']} updates ({secs / 60:.0f} minutes of compilation and training on a CPU)",
            config={k: cfg[k] for k in ("n_seeds", "hidden", "episodes", "horizon", "updates")},
            seconds=secs,
        )
        c.fact(
            len(set(initial.values())) == 1,
            "every variant starts at the same return (to the nearest 100)",
            first_block_iqm=first.iqm.to_dict(),
        )
        c.text(
            f"(about {next(iter(initial.values())):.0f} for every variant over the first "
            f"{int(first.updates.iloc[0])} updates)",
            first_block_iqm=first.iqm.to_dict(),
        )
        c.fact(
            sorted(worse) == ["reinforce", "reward_to_go"], "exactly REINFORCE and reward-to-go get worse", worse=worse
        )
        c.text(
            f"REINFORCE {tx['reinforce']} and reward-to-go {tx['reward_to_go']} get worse, leave-one-out "
            f"{tx['leave_one_out']}, the learned value baseline {tx['value_baseline']}, GAE({num(cfg['lam'])}) "
            f"{tx['gae']}",
            anchor="Final IQM return",
            **tx,
        )


def _pong_full() -> dict:
    source = (ROOT / "pgjax" / "experiments" / "pong_pixels.py").read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "FULL" for t in node.targets):
            if isinstance(node.value, ast.Call):  # FULL = dict(n_seeds=64, ...)
                return {kw.arg: ast.literal_eval(kw.value) for kw in node.value.keywords}
            return ast.literal_eval(node.value)
    raise AssertionError("pgjax/experiments/pong_pixels.py has no FULL configuration")


def test_pong_pixels():
    m = manifest("pong-pixels")
    cfg = m["config"]
    full = _pong_full()
    secs = sum(x["compile_seconds"] + x["run_seconds"] for x in m["timings"].values())
    is_smoke = any(cfg[k] != v for k, v in full.items())
    with Claims("pong-pixels", "results/pong-pixels/manifest.json", "experiments/pong_pixels.py (FULL)") as c:
        c.fact(is_smoke, "the committed run is the smoke run, not --full", config=cfg, full=full)
        c.text(
            f"the default is a CPU smoke run ({cfg['n_seeds']} seeds x {cfg['updates']} updates x {cfg['episodes']} "
            f"episodes of {cfg['horizon']} steps, {secs:.0f} s of compilation and training), `--full` the GPU "
            f"configuration ({full['n_seeds']} seeds x {full['updates']} updates x {full['episodes']} episodes of "
            f"{full['horizon']} steps; not yet run)",
            anchor="the default is a CPU smoke run",
            seconds=secs,
            config={k: cfg[k] for k in full},
            full=full,
        )


# ---------------------------------------------------------------------------- statistics, devices, bench


def test_statistics_delta_interval_coverage():
    t = table("interval-coverage")
    row = t[
        (t.method == "delta")
        & (t.problem == "bandit")
        & (t.quantity == "variance")
        & (t.estimator == "reinforce")
        & (t.param == "log_sigma")
        & (t.n == 1)
        & (t.R == 1000)
    ]
    with Claims("plug-in interval coverage", "results/interval-coverage/table.parquet") as c:
        c.fact(
            len(row) == 1, "one cell (delta, bandit, variance, reinforce, log_sigma, n = 1, R = 1000)", rows=len(row)
        )
        if len(row) == 1:
            r = row.iloc[0]
            c.text(
                f"on the default bandit's log sigma (single-sample kurtosis {r['kurtosis']:.0f}) it covered "
                f"{r['coverage']:.2f} of the exact variances at R = {r['R']}",
                kurtosis=r["kurtosis"],
                coverage=r["coverage"],
                replications=int(r["replications"]),
            )


def test_interval_coverage_section():
    from pgjax.analysis import stats

    t = table("interval-coverage")
    m = manifest("interval-coverage")
    cfg, timings = m["config"], m["timings"]
    with Claims("interval-coverage section", "results/interval-coverage/table.parquet") as c:
        c.fact(cfg["full"] is True, "the committed run is --full", config=cfg)
        reps = {int(r): int(t[t.R == r].replications.iloc[0]) for r in sorted(set(t.R))}
        c.text(f"(1000 intervals per cell at R = 4000, {reps[1000]} at R = 1000", replications=reps)
        c.fact(reps[4000] == 1000, "1000 intervals per cell at R = 4000", replications=reps)
        total = sum(v["sweep_seconds"] + v["statistics_seconds"] for v in timings.values())
        stat = sum(v["statistics_seconds"] for v in timings.values())
        c.text(
            f"{total / 60:.0f} minutes on the 2-core machine, {stat / 60:.0f} of them computing the intervals",
            timings=timings,
        )
        in_band = lambda g: int(((g.coverage >= 0.935) & (g.coverage <= 0.965)).sum())
        below = lambda g: g[g.coverage_hi < 0.935]
        above = lambda g: g[g.coverage_lo > 0.965]
        tail, boot = t[t.method == "tail"], t[t.method == "tail-bootstrap"]
        c.fact(
            stats.DEFAULT_INTERVAL == "tail-bootstrap",
            "the tail bootstrap is the default",
            default=stats.DEFAULT_INTERVAL,
        )
        bb, ba = below(boot), above(boot)
        c.text(
            f"Of the {len(boot)} cells, the default tail bootstrap puts {in_band(boot)} in the band [0.935, 0.965], "
            "and none lies outside it with its whole Wilson interval",
            counts=(in_band(boot), len(ba), len(bb)),
        )
        c.fact(len(ba) + len(bb) == 0, "no cell lies outside the band with its whole Wilson interval")
        under, over = boot[boot.coverage < 0.935], boot[boot.coverage > 0.965]
        low_b, high_b = boot.loc[boot.coverage.idxmin()], boot.loc[boot.coverage.idxmax()]
        c.text(
            f"the other {len(under) + len(over)} cells ({len(under)} with coverage under 0.935, {len(over)} over "
            f"0.965) all have Wilson intervals that reach into the band, from {low_b.coverage:.3f}",
            under=len(under),
            over=len(over),
        )
        c.fact(
            (low_b.problem, low_b.estimator, low_b.quantity, low_b.R) == ("lqr", "constant_baseline", "variance", 4000),
            "the lowest cell is LQR's constant baseline, a variance, at R = 4000",
            lowest=low_b[["problem", "quantity", "estimator", "param", "n", "R"]].to_dict(),
        )
        c.text(f"at R = 4000) to {high_b.coverage:.3f}", highest=high_b.coverage)
        six = boot.nlargest(6, "coverage")
        top = six[
            (six.problem == "bandit")
            & (six.quantity == "ratio")
            & (six.estimator == "optimal_baseline_exact")
            & (six.param == "log_sigma")
        ]
        c.text(
            f"{words(len(top)).capitalize()} of the six highest cells, up to {top.coverage.max():.3f}, are the bandit's "
            "paired ratio of `optimal_baseline_exact` to REINFORCE on log sigma",
            six=six[["problem", "quantity", "estimator", "param", "n", "R", "coverage"]].to_dict("records"),
        )
        c.fact(high_b.name in top.index, "the highest cell is one of them", highest=high_b.to_dict())
        c.text(
            f"at n = {' and '.join(str(n) for n in sorted(set(top.n)))} (kurtosis {top['kurtosis'].min():.0f} to "
            f"{top['kurtosis'].max():.0f})",
            kurtosis=(top["kurtosis"].min(), top["kurtosis"].max()),
        )
        c.text(f"`tail`, the default until this measurement, puts {in_band(tail)} cells in the band", cells=len(tail))
        tb, ta = below(tail), above(tail)
        c.text(f"{len(ta)} cells lie above the band with their whole Wilson interval", above=len(ta))
        c.text(
            f"({(ta.problem == 'bandit').sum()} of them the bandit's, up to {tail.coverage.max():.3f} at",
            above_bandit=int((ta.problem == "bandit").sum()),
            max_coverage=tail.coverage.max(),
        )
        c.text(f"{len(tb)} below it. The {len(tb)} below are all LQR's exact optimal baselines", below=len(tb))
        c.fact(len(ta) > len(tb), "its errors are mostly on the wide side", above=len(ta), below=len(tb))
        c.fact(
            set(tb.problem) == {"lqr"}
            and set(tb.estimator) == {"optimal_baseline_exact", "reward_to_go_optimal"}
            and set(tb.R) == {1000}
            and set(tb.n) <= {1, 2},
            "the cells below are LQR's exact optimal baselines at R = 1000, n = 1 or 2",
            cells=tb[["estimator", "param", "n", "R", "coverage"]].to_dict("records"),
        )
        low = tb.loc[tb.coverage.idxmin()]
        c.text(
            f"down to {low['coverage']:.3f} at kurtosis {low['kurtosis']:.0f}",
            coverage=low["coverage"],
            kurtosis=low["kurtosis"],
        )
        pooled = t.groupby(["problem", "quantity", "method"]).apply(
            lambda g: float((g.coverage * g.replications).sum() / g.replications.sum())
        )
        bv = boot[boot.quantity == "variance"]
        c.text(
            f"(pooled coverage {pooled[('bandit', 'variance', 'tail-bootstrap')]:.3f} on the bandit and "
            f"{pooled[('lqr', 'variance', 'tail-bootstrap')]:.3f} on LQR, the lowest cell {bv.coverage.min():.3f})",
            pooled=pooled.to_dict(),
        )
        c.text(
            f"close to nominal ({pooled[('bandit', 'ratio', 'tail-bootstrap')]:.3f} and "
            f"{pooled[('lqr', 'ratio', 'tail-bootstrap')]:.3f})",
            pooled=pooled.to_dict(),
        )
        c.fact(
            all(abs(pooled[(p, "ratio", "tail-bootstrap")] - 0.95) < 0.005 for p in ("bandit", "lqr")),
            "the bootstrap's ratio intervals pool within 0.005 of the nominal 0.95",
            pooled=pooled.to_dict(),
        )
        c.fact(
            all(pooled[(p, "variance", "tail-bootstrap")] < 0.95 for p in ("bandit", "lqr")),
            "the bootstrap's variance intervals pool under the nominal level (slightly short on average)",
            pooled=pooled.to_dict(),
        )
        c.fact(
            len(ba) + len(bb) < len(ta) + len(tb),
            "the bootstrap has fewer cells clearly outside the band than the default",
            bootstrap=len(ba) + len(bb),
            default=len(ta) + len(tb),
        )
        c.fact(
            not any(in_band(g) == len(g) for _, g in t.groupby("method")),
            "no method has every cell in the band",
            in_band={m: in_band(g) for m, g in t.groupby("method")},
        )


def test_test_suite_time():
    record = json.loads((RESULTS / "bench" / "test-suite.json").read_text())
    with Claims("test-suite time", "results/bench/test-suite.json") as c:
        c.text(
            f"{record['tests_passed']} tests in {record['pytest_seconds'] / 60:.1f} minutes on a "
            f"{record['cpu_cores']}-core CPU",
            record=record,
        )
        others = sorted(other["pytest_seconds"] / 60 for other in record.get("other_runs", []))
        if others:
            listed = [f"{m:.1f} minutes" for m in others]
            phrase = listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]
            c.text(f"took {phrase}", others=others)
        c.fact(
            record["pytest_seconds"] < 600,
            "the recorded run is under the 10-minute target",
            seconds=record["pytest_seconds"],
        )


def test_device_memory_budget_and_bit_identity():
    budgets = {}
    for path in sorted(RESULTS.glob("*/manifest.json")):
        m = json.loads(path.read_text())
        ex = m.get("execution", {})
        if "max_memory_bytes" in ex and not any("max-memory" in a for a in m.get("command", [])):
            budgets[path.parent.name] = ex["max_memory_bytes"]
    throughput = bench("scaling")["throughput"]
    with Claims(
        "device memory budget and bit-identity", "results/*/manifest.json (execution)", "results/bench/scaling.json"
    ) as c:
        c.fact(len(budgets) > 0 and len(set(budgets.values())) == 1, "one default memory budget", budgets=budgets)
        if budgets:
            gib = next(iter(budgets.values())) / 2**30
            c.text(f"({num(gib)} GiB per device by default)", budget_gib=gib)
        c.fact(
            throughput["bit_identical_across_devices"],
            "REINFORCE's per-seed estimates are bit-identical on 1 or 4 devices",
            bit_identical=throughput["bit_identical_across_devices"],
        )


def test_device_per_core_section():
    per_core = bench("scaling")["per_core"]
    rows = {row["problem"]: row for row in per_core["rows"]}
    with Claims("one CPU device per core", "results/bench/scaling.json (per_core)") as c:
        c.fact(
            per_core["cores"] == 2 and set(rows) == {"bandit", "lqr"},
            "measured on the 2-core machine",
            cores=per_core["cores"],
        )
        c.text(
            f"the bandit's REINFORCE {rows['bandit']['speedup']:.2f}x and LQR's reward-to-go "
            f"{rows['lqr']['speedup']:.2f}x faster, with bit-identical estimates",
            speedups={k: r["speedup"] for k, r in rows.items()},
        )
        c.fact(all(r["bit_identical"] for r in rows.values()), "bit-identical estimates", rows=list(rows))


def test_bench_bandit_sizes():
    b = bench("bench")
    s = b["sizes"]
    with Claims("pgjax bench", "results/bench/bench.json") as c:
        c.text(f"(d = {s['d']}, {s['n_seeds']} seeds x {s['n']} samples, after compilation)", sizes=s)
        c.text(f"2-core CPU ({b['n_devices']} JAX\ndevices, one per core)", devices=b["n_devices"])
        default, fast = b["by_prng"]["threefry"], b["by_prng"]["threefry-fast"]
        c.text(
            f"{default['samples_per_s'] / 1e6:.0f} M samples/s with the default generator, "
            f"{default['ratio_vs_rng_limit']:.2f} of its RNG limit and {default['ratio_vs_numpy_vectorized']:.2f}x the "
            f"fastest NumPy configuration, and {fast['samples_per_s'] / 1e6:.0f} M samples/s with `--prng "
            f"threefry-fast`, {fast['ratio_vs_rng_limit']:.2f} of its RNG limit and "
            f"{fast['ratio_vs_numpy_vectorized']:.2f}x NumPy",
            by_prng=b["by_prng"],
        )


def test_tucker2018_fig1_claims():
    s = table("tucker2018-fig1", "summary").sort_values("updates")
    cfg = manifest("tucker2018-fig1")["config"]
    with Claims("Tucker et al. Figure 1", "results/tucker2018-fig1/summary.parquet") as c:
        join = lambda xs: ", ".join(xs[:-1]) + " and " + xs[-1]
        T = int(s["T"].iloc[0])
        c.fact(list(s["updates"]) == [0, 100, 1000], "snapshots at 0, 100 and 1000 updates", updates=list(s["updates"]))
        c.fact(cfg["horizon"] == 100 and cfg["discount"] == 0.99, "horizon 100, gamma = 0.99", config=cfg)
        c.text(f"(J = {join([f'{j:.0f}' for j in s['objective_J']])})")
        c.fact(
            (s["steps_sigma_a_none_above_tau"] == T - 1).all() and (s["steps_sigma_a_value_above_tau"] == 0).all(),
            "Sigma_a^0 above and Sigma_a^V below Sigma_tau at every t <= T - 2",
            above_none=list(s["steps_sigma_a_none_above_tau"]),
            above_value=list(s["steps_sigma_a_value_above_tau"]),
        )
        c.text(f"at all {T - 1} time steps t = 0 ... {T - 2}")
        c.text(f"is a median {join([sig(x) for x in s['median_ratio_value_to_tau']])} of Sigma_tau")
        last = s.iloc[-1]
        c.fact(s["max_ratio_value_to_tau"].idxmax() == s.index[-1], "the largest ratio is at the last snapshot")
        c.text(
            f"(at most {sig(last['max_ratio_value_to_tau'])}, at t = {int(last['t_of_max_ratio'])} after "
            f"{int(last['updates'])} updates)"
        )
        r = s.iloc[0]
        c.text(
            f"the log traces are {r['log_sigma_a_none_t0']:.1f} (Sigma_a, no baseline), {r['log_sigma_tau_mc_t0']:.1f} "
            f"(Sigma_tau), {r['log_sigma_a_value_t0']:.1f} (Sigma_a with V(s)) and {r['log_sigma_s_t0']:.1f} (Sigma_s)"
        )
        c.text(f"a median {join([sig(x) for x in s['median_ratio_gae0_to_mc']])} of the Monte Carlo return's")
        c.text(f"and {join([sig(x) for x in s['median_ratio_gae0.99_to_mc']])} with lambda = 0.99")
        m = table("tucker2018-fig1", "monte_carlo")
        m = m[m.t <= T - 2]
        inside = int(((m.lo <= m.exact) & (m.exact <= m.hi)).sum())
        c.text(f"{inside} of the {len(m)} Monte Carlo 95% intervals ({cfg['n_seeds']} seeds) contain the exact value")


def test_variance_decomposition_claims():
    t = table("variance-decomposition", "terms")
    s = table("variance-decomposition", "summary")
    cfg = manifest("variance-decomposition")["config"]
    with Claims("variance decomposition on CartPole", "results/variance-decomposition/terms.parquet") as c:
        c.fact(
            (cfg["env"], cfg["states"], cfg["actions"], cfg["continuations"], cfg["horizon"], cfg["train_updates"])
            == ("cartpole", 2, 4, 4, 100, 30),
            "CartPole, 2 episodes x 4 actions x 4 continuations, H = 100, 30 updates",
            config=cfg,
        )
        c.text(f"gamma = {num(cfg['discount'])}, {cfg['n_seeds']} seeds)")

        def cell(snap, term, tt=0, digits=3):
            r = t[(t.snapshot == snap) & (t.term == term) & (t.t == tt)].iloc[0]
            return " ".join([sig(r["mean"], digits), f"[{sig(r['lo'], digits)}, {sig(r['hi'], digits)}]"])

        c.text(
            f"the action term without a baseline is {cell('initial', 'sigma_a_none')} initially and "
            f"{cell('trained', 'sigma_a_none')} after training, the trajectory term {cell('initial', 'sigma_tau')} "
            f"and {cell('trained', 'sigma_tau')}, and the action term with the critic "
            f"{cell('initial', 'sigma_a_value')} and {cell('trained', 'sigma_a_value')}"
        )
        row = lambda snap, tt: s[(s.snapshot == snap) & (s.t == tt)].iloc[0]
        removes = [row(snap, 0)["value_baseline_removes"] for snap in ("initial", "trained")]
        c.text(f"the critic baseline removes {removes[0]:.0%} and {removes[1]:.0%} of the total variance")
        r_tr0, r_tr90 = row("trained", 0)["ratio_a_value_to_tau"], row("trained", 90)["ratio_a_value_to_tau"]
        r_in0, r_in10 = row("initial", 0)["ratio_a_value_to_tau"], row("initial", 10)["ratio_a_value_to_tau"]
        c.fact(r_tr0 >= 1 and r_tr90 > r_tr0, "after training Sigma_a^V >= Sigma_tau", t0=r_tr0, t90=r_tr90)
        c.text(
            f"Sigma_a^V / Sigma_tau is {sig(r_tr0)} at t = 0 and {sig(r_tr90)} at t = 90 ({sig(r_in0)} and "
            f"{sig(r_in10)} at t = 0 and 10 initially)"
        )
        sig_s = t[t.term == "sigma_s"]
        zero = int(((sig_s.lo <= 0) & (sig_s.hi >= 0)).sum())
        below = int((sig_s.hi < 0).sum())
        c.fact(zero + below == len(sig_s), "no Sigma_s interval lies above 0", zero=zero, below=below)
        other = ", and the other lies below 0" if below == 1 else ""
        c.text(f"Sigma_s is not resolved at these sample sizes: {zero} of its {len(sig_s)} intervals contain 0{other}")


def test_variance_decomposition_pendulum_claims():
    t = table("variance-decomposition-pendulum", "terms")
    s = table("variance-decomposition-pendulum", "summary")
    m = manifest("variance-decomposition-pendulum")
    cfg, default = m["config"], manifest("variance-decomposition")["config"]
    sources = (
        "results/variance-decomposition-pendulum/terms.parquet",
        "results/variance-decomposition-pendulum/manifest.json",
    )
    with Claims("variance decomposition on Pendulum", *sources) as c:
        c.fact(
            cfg["env"] == "pendulum"
            and {k: v for k, v in cfg.items() if k != "env"} == {k: v for k, v in default.items() if k != "env"},
            "Pendulum, with the CartPole run's sizes",
            config=cfg,
        )
        frac = s["frac_a_none"]
        c.text(f"without a baseline it is {frac.min():.0%} to {frac.max():.0%} of the total variance")

        def cell(snap, term, tt=0):
            r = t[(t.snapshot == snap) & (t.term == term) & (t.t == tt)].iloc[0]
            return f"{sig(r['mean'] / 1e3, 3)} [{sig(r['lo'] / 1e3, 3)}, {sig(r['hi'] / 1e3, 3)}]"

        c.text(
            f"in thousands, {cell('initial', 'sigma_a_none')} initially and {cell('trained', 'sigma_a_none')} after "
            f"{cfg['train_updates']} updates at t = 0, against a trajectory term of {cell('initial', 'sigma_tau')} and "
            f"{cell('trained', 'sigma_tau')}. The critic cuts the action term to {cell('initial', 'sigma_a_value')} and "
            f"{cell('trained', 'sigma_a_value')}"
        )
        row = lambda snap, tt: s[(s.snapshot == snap) & (s.t == tt)].iloc[0]
        removes = [row(snap, 0)["value_baseline_removes"] for snap in ("initial", "trained")]
        c.text(f"removing {removes[0]:.0%} and {removes[1]:.0%} of the variance at t = 0")
        ratio = s.set_index(["snapshot", "t"])["ratio_a_value_to_tau"]
        early = [t_ for t_ in cfg["times"] if t_ < max(cfg["times"])]
        ini, tra = ratio["initial"].loc[early], ratio["trained"].loc[early]
        c.text(
            f"what remains for an action-dependent baseline is {sig(ratio['initial', 0])} and {sig(ratio['trained', 0])} "
            f"times Sigma_tau at t = 0 ({sig(ini.min())} to {sig(ini.max())} initially and {sig(tra.min())} to "
            f"{sig(tra.max())} after training up to t = {max(early)})"
        )
        last = max(cfg["times"])
        tau = t[(t.term == "sigma_tau") & (t.t == last)].set_index("snapshot")["mean"]
        c.fact(min(ratio["initial", last], ratio["trained", last]) > 100, "hundreds of times at the last t", last=last)
        c.text(
            f"at t = {last}, where {cfg['horizon'] - last} steps remain (Sigma_tau {tau['initial']:.0f} and "
            f"{tau['trained']:.0f})"
        )
        snaps = m["snapshots"]
        before, after = snaps["initial"]["last_training_return"], snaps["trained"]["last_training_return"]
        c.fact(after <= before, "the trained snapshot's last return is not higher", before=before, after=after)
        c.text(f"the last training batch's mean return is {before:.0f} before and {after:.0f} after")
        sig_s = t[t.term == "sigma_s"]
        zero = (sig_s.lo <= 0) & (sig_s.hi >= 0)
        above = sig_s[sig_s.lo > 0]
        c.fact(
            int(zero.sum()) + len(above) == len(sig_s) and set(above.t) == {last}, "the rest lie above 0 at the last t"
        )
        c.text(
            f"{int(zero.sum())} of the {len(sig_s)} Sigma_s intervals contain 0; the other {len(above)} (t = {last}) lie above it"
        )


# ------------------------------------------------------------------------------------------ gradient quality


def _interval(row, column: str, digits: int = 2) -> str:
    """``0.51 [0.46, 0.57]``: a quality column with its 95% interval."""
    return f"{sig(row[column], digits)} [{sig(row[column + '_lo'], digits)}, {sig(row[column + '_hi'], digits)}]"


def test_gradient_quality_section():
    m = manifest("gradient-quality")
    cfg = m["config"]
    q = table("gradient-quality", "quality").set_index(["setting", "estimator", "n"]).sort_index()
    lengths = m["cartpole"]["mean_episode_length"]
    sources = ("results/gradient-quality/quality.parquet", "results/gradient-quality/manifest.json")
    with Claims("gradient-quality", *sources) as c:
        c.text(
            f"LQR (lqr-variance's double integrator, H = {cfg['lqr_horizon']}, {cfg['lqr_seeds']} seeds) and CartPole "
            f"at the snapshots of cartpole-variance ({', '.join(str(s) for s in cfg['snapshots'])} updates; "
            f"{cfg['cartpole_seeds']} seeds, a reference of {cfg['reference_batches'] * cfg['reference_episodes']:,} "
            f"episodes; mean episode lengths {', '.join(f'{v:.0f}' for v in lengths.values())} steps)",
            anchor="LQR (lqr-variance's double integrator",
        )
        n = 64
        r, v, g = (q.loc[("lqr", e, n)] for e in ("reinforce", "value_baseline", "gae"))
        c.text(
            f"On LQR at n = {n} episodes ({r['pairs']:.0f} state-action pairs), REINFORCE's cosine to the true "
            f"gradient is {_interval(r, 'cos')} and its mean pairwise cosine {_interval(r, 'pair_cos')}; the value "
            f"baseline and GAE reach {sig(v['cos'], 3)} and {sig(g['cos'], 3)}. The exact noise-to-signal ratios "
            f"are {sig(r['nse_exact'])}, {sig(v['nse_exact'])} and {sig(g['nse_exact'])} (measured "
            f"{sig(r['nse'])}, {sig(v['nse'])}, {sig(g['nse'])}), and the exact noise scales B_simple "
            f"{r['noise_scale_exact']:.0f}, {sig(v['noise_scale_exact'])} and {sig(g['noise_scale_exact'])} episodes",
            anchor="On LQR at n =",
        )
        n = 8
        r, v = (q.loc[("cartpole-trained", e, n)] for e in ("reinforce", "value_baseline"))
        c.text(
            f"On the trained CartPole policy at n = {n} episodes ({r['pairs']:.0f} pairs, more than PPO's 2048), "
            f"REINFORCE's cosine to the reference gradient is {_interval(r, 'cos')} and its pairwise cosine "
            f"{_interval(r, 'pair_cos')}; the value baseline's {_interval(v, 'cos')} and {_interval(v, 'pair_cos')}",
            anchor="On the trained CartPole policy",
        )
        c.fact(r["pairs"] > m["standard_budget"], "n = 8 is past PPO's budget", pairs=r["pairs"])
        n = max(cfg["cartpole_ns"])
        t, i = q.loc[("cartpole-trained", "gae", n)], q.loc[("cartpole-initial", "gae", n)]
        c.text(
            f"GAE's estimates agree with each other (pairwise cosine {sig(t['pair_cos'], 3)} at n = {n}) but "
            f"not with the gradient (cosine {sig(t['cos'])}, noise-to-signal ratio {sig(t['nse'], 3)})",
            anchor="GAE's estimates agree",
        )
        c.text(
            f"at the initial policy, with an untrained critic, GAE's cosine to the gradient is "
            f"{_interval(i, 'cos')} at n = {n} while its pairwise cosine is {_interval(i, 'pair_cos')}",
            anchor="at the initial policy, with an untrained critic",
        )
        c.fact(t["pair_cos_lo"] > 0.9 and t["cos_hi"] < 0.5, "GAE trained: consistent but biased", row=t.to_dict())
        one = q.loc[("lqr", "reinforce", 1)]
        c.text(
            f"REINFORCE NSE is measured at {one['nse']:.0f} [{one['nse_lo']:.0f}, {one['nse_hi']:.0f}] on "
            f"{cfg['lqr_seeds']} seeds against the exact {one['nse_exact']:.0f}",
            anchor="REINFORCE NSE is measured at",
        )
        c.fact(not one["nse_lo"] <= one["nse_exact"] <= one["nse_hi"], "the n = 1 interval misses", row=one.to_dict())
    pend = m["pendulum"]
    with Claims("gradient-quality on Pendulum", *sources) as c:
        c.fact(cfg["pendulum"] and "--pendulum" in m["command"], "the committed run has the Pendulum settings")
        snaps = pend["snapshots"]
        returns = [snaps[s]["training_return_at_snapshot"] for s in list(snaps)[1:]]
        lengths = set(pend["mean_episode_length"].values())
        c.fact(len(lengths) == 1, "every Pendulum episode has the same length", lengths=sorted(lengths))
        c.text(
            f"MLP-Gaussian policy ({pend['n_params']} parameters) at "
            f"{', '.join(str(s) for s in cfg['pendulum_snapshots'][:-1])} and {cfg['pendulum_snapshots'][-1]} GAE "
            f"updates (the last training batch's mean return {returns[0]:.0f} and {returns[1]:.0f} at the last two; "
            f"{cfg['pendulum_seeds']} seeds, a reference of {cfg['reference_batches'] * cfg['reference_episodes']:,} "
            f"episodes; every episode {lengths.pop():.0f} steps)",
            anchor="MLP-Gaussian policy (",
        )
        n = 8
        r, v, g = (q.loc[("pendulum-trained", e, n)] for e in ("reinforce", "value_baseline", "gae"))
        c.fact(
            r["pairs"] < m["standard_budget"] <= 2 * r["pairs"], "n = 8 is just under PPO's budget", pairs=r["pairs"]
        )
        c.text(
            f"On the trained Pendulum policy at n = {n} episodes ({r['pairs']:.0f} pairs), REINFORCE's cosine to the "
            f"reference gradient is {_interval(r, 'cos')}, the value baseline's {_interval(v, 'cos')} and GAE's "
            f"{_interval(g, 'cos')}",
            anchor="On the trained Pendulum policy",
        )
        n = max(cfg["pendulum_ns"])
        r, v, g = (q.loc[("pendulum-trained", e, n)] for e in ("reinforce", "value_baseline", "gae"))
        c.text(
            f"even {n} episodes ({r['pairs']:,.0f} pairs) leave REINFORCE's cosine at {_interval(r, 'cos')} and its "
            f"noise-to-signal ratio at {r['nse']:.0f}, against {sig(v['nse'])} and {sig(g['nse'])}: its noise scale "
            f"B_simple is {r['noise_scale']:,.0f} episodes, the value baseline's {v['noise_scale']:.0f} and GAE's "
            f"{g['noise_scale']:.0f}",
            anchor="even",
        )
        init = q.xs(("pendulum-initial"), level="setting").xs(n, level="n")
        best = init["cos"].idxmax()
        c.text(
            f"At the initial policy no estimator's cosine passes {sig(init['cos'].max())} at {n} episodes "
            f"({best}: {_interval(init.loc[best], 'cos')})",
            anchor="At the initial policy no estimator",
        )
        mid = q.loc[("pendulum-update-100", "gae")]
        c.fact(
            mid.loc[n, "cos_lo"] > 0.98 and mid.loc[n, "nse_lo"] > mid.loc[32, "nse_hi"] / 2,
            "GAE at 100 updates: aligned, yet its NSE falls by less than half over 4x the episodes (a bias)",
            row=mid.loc[n].to_dict(),
        )
        c.text(
            f"after 100 updates GAE's noise-to-signal ratio falls only from {sig(mid.loc[32, 'nse'])} to "
            f"{sig(mid.loc[n, 'nse'])} between 32 and {n} episodes while its cosine is {sig(mid.loc[n, 'cos'], 3)}",
            anchor="after 100 updates GAE",
        )
    bandit = table("bandit-variance", "quality")
    exact = bandit[bandit.nse_exact.notna()]
    covered = ((exact.nse_lo <= exact.nse_exact) & (exact.nse_exact <= exact.nse_hi)).sum()
    with Claims("bandit-variance quality coverage", "results/bandit-variance/quality.parquet") as c:
        c.text(f"{covered} of the {len(exact)} NSE intervals of bandit-variance cover the exact value")


# ------------------------------------------------------------------------------ group baselines and KL


def _group_exact_at(G: int, p: float) -> pd.DataFrame:
    t = table("group-baselines", "exact")
    return t[(t.G == G) & np.isclose(t.p, p)].set_index("estimator")


def _rloo_best_range(G: int) -> tuple[float, float] | None:
    t = table("group-baselines", "exact")
    practical = t[(t.G == G) & t.estimator.isin(["group_mean", "group_rloo", "grpo"])]
    best = practical.pivot(index="p", columns="estimator", values="rel_mse").idxmin(axis=1)
    rloo = best[best == "group_rloo"].index
    return (float(rloo.min()), float(rloo.max())) if len(rloo) else None


def test_group_baselines_section():
    cfg = manifest("group-baselines")["config"]
    t = table("group-baselines", "exact")
    at = _group_exact_at(8, 0.1)
    half = _group_exact_at(8, 0.5)
    grpo = t[t.estimator == "grpo"]
    top = grpo.loc[grpo.scale.idxmax()]
    g2 = grpo[grpo.G == 2].scale
    practical = t[t.estimator.isin(["group_mean", "group_rloo", "grpo"])]
    best = practical.loc[practical.groupby(["G", "p"]).rel_mse.idxmin()]
    small = best[best.G <= 4]
    r8, r64 = _rloo_best_range(8), _rloo_best_range(64)
    prompts = table("group-baselines", "prompts")
    pg = prompts[(prompts.G == 8) & (prompts.estimator == "grpo")].set_index("p").scale
    batch = table("group-baselines", "batch")
    cos = batch[(batch.problem == "prompts") & (batch.estimator == "grpo")].set_index("G").cosine
    others = batch[batch.estimator != "grpo"].cosine
    mse8 = batch[(batch.problem == "prompts") & (batch.G == 8)].set_index("estimator").rel_mse
    mc = table("group-baselines", "monte_carlo")
    live = mc[mc.exact_var > 1e-12 * mc.grad**2]
    z = ((live["mean"] - live.exact_mean) / live.mean_se).abs()
    inside = ((live.var_lo <= live.exact_var) & (live.exact_var <= live.var_hi)).mean()
    with Claims("group-baselines section", "results/group-baselines/*.parquet", "manifest.json") as c:
        c.fact(
            list(cfg["groups"]) == list(range(2, 65, 2)) and cfg["n_success"] == 99 and cfg["n_seeds"] == 2000,
            "G = 2, 4, ..., 64, 99 success probabilities, 2000 Monte Carlo seeds",
            config=cfg,
        )
        c.text(
            f"at p = 0.1 and G = 8 GRPO's expected update is {sig(at.scale.grpo, 3)} times the true gradient: a bias "
            f"of +{sig(at.rel_bias.grpo, 3)} grad J, along the gradient",
            grpo=at.loc["grpo"].to_dict(),
        )
        c.text(
            f"Its relative MSE there is {sig(at.rel_mse.grpo, 3)}, against {sig(at.rel_mse.group_rloo, 3)} for RLOO "
            f"and {sig(at.rel_mse.group_mean, 3)} for the batch mean",
            rel_mse=at.rel_mse.to_dict(),
        )
        c.text(f"({sig(at.degenerate.grpo, 2)} of the groups are all wrong,", degenerate=at.degenerate.grpo)
        c.text(
            f"GRPO's scale is {sig(g2.iloc[0], 3)} at G = 2 for every p, {sig(half.scale.grpo, 3)} at p = 0.5 and "
            f"G = 8, and up to {sig(top.scale, 3)} (G = {top.G:.0f}, p = {top.p:g})",
            g2=[g2.min(), g2.max()],
            top=top.to_dict(),
        )
        c.fact(np.allclose(g2, g2.iloc[0], atol=1e-12), "GRPO's scale at G = 2 is the same for every p")
        c.text(
            f"the batch mean (identical to Dr. GRPO here) scales it by exactly 1 - 1/G ({sig(at.scale.group_mean, 3)} "
            "at G = 8)",
            scale=at.scale.group_mean,
        )
        c.fact(
            (small.estimator == "group_mean").all() and not (best.estimator == "grpo").any(),
            "the batch mean has the lowest MSE of the reward-only baselines at every p for G <= 4; GRPO nowhere",
        )
        c.text(
            f"RLOO for {r8[0]:g} <= p <= {r8[1]:g} at G = 8 and {r64[0]:g} <= p <= {r64[1]:g} at G = 64",
            g8=r8,
            g64=r64,
        )
        c.text(
            f"GRPO weights the prompts at p = 0.02 and 0.98 {sig(pg[0.02], 3)} times their gradient, the one at "
            f"p = 0.5 {sig(pg[0.5], 3)} times",
            scales=pg.to_dict(),
        )
        c.text(
            f"the cosine between its expected update and grad J falls to {cos[8]:.4f} at G = 8 and {cos[64]:.4f} at "
            "G = 64",
            cosine=cos.to_dict(),
        )
        c.fact(np.allclose(others, 1.0, atol=1e-9), "every other baseline's expected update is parallel to grad J")
        c.text(
            f"relative MSE of the batch at G = 8: batch mean {sig(mse8.group_mean, 3)}, RLOO "
            f"{sig(mse8.group_rloo, 3)}, shrinkage {sig(mse8.group_shrinkage, 3)}, GRPO {sig(mse8.grpo, 3)}, exact "
            f"optimal constant {sig(mse8.group_optimal, 2)}",
            mse=mse8.to_dict(),
        )
        c.text(
            f"shrinkage baseline's relative variance at p = 0.5 and G = 8 is {sig(half.rel_var.group_shrinkage, 2)} "
            f"(RLOO: {sig(half.rel_var.group_rloo, 2)})",
            rel_var=half.rel_var.to_dict(),
        )
        c.text(
            f"{len(live)} Monte Carlo cells with a non-zero exact variance, the largest |bias - exact bias| is "
            f"{z.max():.1f} standard errors, and {100 * inside:.1f}% of the 95% variance intervals contain the exact "
            "variance",
            cells=len(live),
            max_z=z.max(),
            inside=inside,
        )


def test_kl_estimators_section():
    cfg = manifest("kl-estimators")["config"]
    t = table("kl-estimators", "exact")
    mc = table("kl-estimators", "monte_carlo")
    first, last = t[t.step == 0].set_index("estimator"), t[t.step == t.step.max()].set_index("estimator")
    mid = t[t.step == 20].set_index("estimator")
    k2 = t[t.estimator == "k2"].sort_values("kl")
    ten = k2[k2.rel_bias.abs() > 0.1].iloc[0]
    wide = t.pivot(index="kl", columns="estimator", values="rel_std")
    cross = wide[wide.k1 < wide.k3].index.min()
    k3 = t[t.estimator == "k3"].rel_std
    z = ((mc["mean"] - mc.exact_mean) / mc.mean_se).abs()
    inside = ((mc.var_lo <= mc.exact_var) & (mc.exact_var <= mc.var_hi)).all()
    with Claims("kl-estimators section", "results/kl-estimators/*.parquet") as c:
        c.fact(cfg["answers"] == 10 and cfg["n"] == 1 and cfg["n_seeds"] == 20000, "K = 10, one draw, 20000 seeds")
        c.text(
            f"KL from {first.kl.k1:.1e} to {last.kl.k1:.2f} nats",
            kl=[first.kl.k1, last.kl.k1],
        )
        c.text(
            f"k1's standard deviation is {sig(first.rel_std.k1, 3)} times the KL at KL = {first.kl.k1:.1e}, "
            f"{sig(mid.rel_std.k1, 3)} times at {mid.kl.k1:.1e} and {sig(last.rel_std.k1, 3)} times at "
            f"{last.kl.k1:.2f}",
            rel_std=[first.rel_std.k1, mid.rel_std.k1, last.rel_std.k1],
        )
        c.text(f"k3's stays between {sig(k3.min(), 3)} and {sig(k3.max(), 3)}", k3=[k3.min(), k3.max()])
        c.text(
            f"k2 is biased upwards by {100 * first.rel_bias.k2:.2f}% at KL = {first.kl.k2:.1e}, by more than 10% "
            f"from KL = {ten.kl:.3f} and by {100 * last.rel_bias.k2:.0f}% at {last.kl.k2:.2f}",
            k2=[first.rel_bias.k2, ten.kl, last.rel_bias.k2],
        )
        c.fact((k2.bias > 0).all(), "k2's bias is positive at every distance of the default run")
        c.text(f"k1 has the smaller standard deviation than k3 from KL = {cross:.2f}", crossing=cross)
        c.text(
            f"all {len(mc)} Monte Carlo points lie within {ceil_to(z.max(), 1)} standard errors of the exact mean",
            max_z=z.max(),
        )
        c.fact(bool(inside), "every 95% variance interval of the Monte Carlo points contains the exact variance")


def test_brax_variance_claims():
    t = table("brax-variance")
    s = table("brax-variance", "summary")
    m = manifest("brax-variance")
    cfg = m["config"]
    with Claims("brax-variance on Hopper", "results/brax-variance/table.parquet", "summary.parquet") as c:
        c.fact(
            (cfg["env"], cfg["policy"], cfg["horizon"], cfg["train_updates"], cfg["train_episodes"])
            == ("hopper", "linear-gaussian", 50, 20, 8),
            "Hopper, linear-Gaussian, H = 50, 20 updates of 8 episodes",
            config=cfg,
        )
        c.text(f"H = {cfg['horizon']}, gamma = {num(cfg['discount'])})")
        returns = [m["snapshots"][k]["training_return_at_snapshot"] for k in ("initial", "trained")]
        c.text(f"training batch went from {returns[0]:.1f} to {returns[1]:.1f}", returns=returns)
        c.text(
            f"{cfg['n_seeds']} seeds per point, bias against a reference gradient of {cfg['reference_batches']} x "
            f"{cfg['reference_episodes']} leave-one-out episodes"
        )
        worst = max(f["reference"]["max_reference_var_fraction"] for f in m["snapshots"].values())
        c.text(f"at most {worst:.1%} of any variance", worst=worst)
        n = max(cfg["ns"])
        total = t[t.n == n].groupby(["snapshot", "estimator"])["var"].sum()
        ratio = lambda est, snap: sig(total[snap, est] / total[snap, "reinforce"])
        c.text(
            f"At n = {n}, summed over the {t.param.nunique()} coordinates and relative to REINFORCE: reward-to-go "
            f"{ratio('reward_to_go', 'initial')} (initial) and {ratio('reward_to_go', 'trained')} (trained), the "
            f"batch-mean baseline {ratio('batch_mean_baseline', 'initial')} and "
            f"{ratio('batch_mean_baseline', 'trained')}, leave-one-out {ratio('leave_one_out', 'initial')} and "
            f"{ratio('leave_one_out', 'trained')}"
        )
        z = (t["bias"] / t["bias_se"]).abs()
        unbiased = t.estimator.isin(["reinforce", "reward_to_go", "leave_one_out"])
        cells = len(t[t.estimator == "reinforce"])
        c.text(f"Over all {cells} (snapshot, n, coordinate) cells", cells=cells)
        c.text(f"within {math.ceil(z[unbiased].max() * 10) / 10:.1f} standard errors", z=z[unbiased].max())
        c.text(f"bias reaches {z[t.estimator == 'batch_mean_baseline'].max():.1f}")
        pct = lambda values: f"{min(values):.0%} to {max(values):.0%}"
        initial, trained = s[s.snapshot == "initial"], s[s.snapshot == "trained"]
        c.text(f"without a baseline is {pct(initial.frac_a_none)} of the total at the initial snapshot")
        c.text(f"the critic baseline removes {pct(initial.value_baseline_removes)} of the total initially")
        c.fact(
            (trained.frac_a_none > 0.95).all() and (trained.value_baseline_removes > 0.95).all(),
            "after training the action term is all of the total and the critic removes all of it (within noise)",
            trained=trained.to_dict("list"),
        )
        r_in, r_tr = initial.ratio_a_value_to_tau, trained.ratio_a_value_to_tau
        c.text(
            f"{sig(r_in.min())} to {sig(r_in.max())} times the trajectory term initially and {sig(r_tr.min())} to "
            f"{sig(r_tr.max())} times after training"
        )


def test_bench_all_cpu_reference():
    path = _require(RESULTS / "bench" / "all-cpu" / "bench-all.json")
    b = json.loads(path.read_text())
    rates = {row["name"]: row.get("throughput") for row in b["benchmarks"]}
    walls = {row["name"]: row["wall_s"] for row in b["experiments"]}
    with Claims("pgjax bench --all (CPU reference)", "results/bench/all-cpu/bench-all.json") as c:
        c.fact(all(r["status"] == "ok" for r in b["benchmarks"] + b["experiments"]), "every part finished")
        c.text(f"took {b['wall_seconds']:.0f} s", wall=b["wall_seconds"])
        c.text(
            f"{rates['score']:.3g} samples/s on the bandit (`score`, quick sizes), {rates['lqr']:.3g} steps/s on LQR, "
            f"{rates['envs']:.4g} steps/s on CartPole, and {walls['bandit-variance']:.1f} s for the short "
            "`bandit-variance` run",
            rates=rates,
            walls=walls,
        )
