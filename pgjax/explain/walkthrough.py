"""The words of the walkthrough, with every number filled in from :class:`pgjax.explain.numbers.Numbers`.

:func:`compose` returns a :class:`pgjax.explain.document.Document`; no number in the text is typed in. Where a
sentence would only be true for some settings (the sign of the slope, whether the pathwise estimate is wrong),
the sentence is chosen from the numbers.
"""

from __future__ import annotations

import math

import numpy as np

from pgjax.analysis.stats import unbiasedness_z
from pgjax.explain.document import Bullets, Document, Figure, Formula, Paragraph, Section, Table, fmt
from pgjax.explain.document import fmt_measured as fmm
from pgjax.explain.numbers import RATIO_TOLERANCE, TARGET_SE, Numbers

TITLE = "The log-derivative trick, worked with numbers"


def _count(n: int) -> str:
    return f"{n:,}"


_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _words(n: int, capital: bool = False) -> str:
    """Small counts in words ("five"), larger ones in digits."""
    text = _WORDS[n] if 0 <= n < len(_WORDS) else _count(n)
    return text.capitalize() if capital else text


def _vector(v, digits: int = 3) -> str:
    return "(" + ", ".join(fmt(x, digits) for x in np.asarray(v)) + ")"


def _interval(lo: float, hi: float, digits: int = 3) -> str:
    return f"[{fmm(lo, digits)}, {fmm(hi, digits)}]"


def samples_needed(variance: float, target_se: float = TARGET_SE) -> int:
    """Smallest n with sqrt(variance / n) <= target_se (at least 1)."""
    return max(1, math.ceil(variance / target_se**2 - 1e-9))


def max_standard_errors(nb: Numbers) -> float:
    """The largest |estimate - exact| / exact standard error over the convergence table."""
    se = lambda n: math.sqrt(nb.single_variance / n)
    return max(abs(row.estimate - nb.grad) / se(row.n) for row in nb.convergence if se(row.n) > 0)


def _setup_section(nb: Numbers) -> Section:
    s = nb.setup
    g = fmt(nb.grad)
    rows = [
        ("state", "s", fmt(s.state)),
        ("weight (the parameter we learn)", "θ", fmt(s.theta)),
        ("mean action", "μ = θ s", fmt(nb.mu)),
        ("noise size, held fixed", "σ", fmt(s.sigma)),
        ("reward of action a", "r(a)", nb.reward_text),
        ("average reward", "J(θ) = E[r(a)]", fmt(nb.objective)),
        ("its slope: what we want to estimate", "dJ/dθ", g),
    ]
    if nb.best_theta is not None:
        rows.append(("best weight (puts μ on the best action)", f"θ* = {fmt(s.target)} / s", fmt(nb.best_theta)))
    if nb.best_theta is not None:
        exact = (
            f"For this reward J has a formula, J(θ) = -((θ s - {fmt(s.target)})² + σ²) = {fmt(nb.objective)}, "
            f"so pgjax computes it exactly and differentiates it with `jax.grad`: dJ/dθ = {g}."
        )
        if abs(nb.grad) < 1e-12:
            direction = f"The slope is 0: θ = {fmt(nb.best_theta)} already puts the mean action on the best action."
        else:
            way = "raising" if nb.grad > 0 else "lowering"
            direction = (
                f"The slope is {'positive' if nb.grad > 0 else 'negative'}: {way} θ moves the mean action "
                f"toward the best action {fmt(s.target)}."
            )
    else:
        exact = (
            f"pgjax knows J exactly for this reward (J = {fmt(nb.objective)}) and differentiates it with "
            f"`jax.grad`: dJ/dθ = {g}."
        )
        direction = "Its sign says which way to move θ to raise the average reward."
    return Section(
        "1. The set-up",
        (
            Paragraph(
                "One state, one weight, one action. The policy looks at the state s, proposes the mean action "
                "μ = θ s, and adds Gaussian noise of a fixed size σ: a ~ N(μ, σ²). The action earns a reward "
                "r(a). Learning means changing θ so that the average reward J(θ) goes up, and the slope "
                "dJ/dθ says which way to change it and how strongly."
            ),
            Table(("quantity", "symbol", "value"), tuple(rows), ("l", "l", "r")),
            Paragraph(f"{exact} {direction}"),
            Paragraph(
                "In a real problem there is no formula for J: all we can do is try actions and look at their "
                "rewards. Every estimate below is built from such tries alone, and here each one can be "
                f"checked against the exact slope {g}."
            ),
        ),
    )


def _shortcut_section(nb: Numbers) -> Section:
    g = fmt(nb.grad)
    R = nb.setup.n_seeds
    last = nb.shortcut[-1]
    rows = tuple((_count(a.n), fmm(a.estimate), fmm(a.se, 3), g) for a in nb.shortcut)
    return Section(
        "2. The slope of an average is not an average",
        (
            Paragraph(
                "Write the average reward as a sum over all actions, each weighted by its probability density π(a; θ):"
            ),
            Formula(("J(θ) = ∫ π(a; θ) r(a) da",)),
            Paragraph(
                "The reward does not depend on θ; only the density does. So the derivative lands on π and "
                "leaves r alone:"
            ),
            Formula(("dJ/dθ = ∫ ∂π(a; θ)/∂θ · r(a) da",)),
            Paragraph(
                "Nothing is wrong with this integral: adding up ∂π/∂θ · r over a fine grid of actions gives "
                f"{fmt(nb.grid_integral)}, the exact slope. But there is no grid in practice, only actions "
                "drawn from π, and this integral is not an average over π: ∂π/∂θ is not a probability (it is "
                "negative for some actions, and over all actions it adds up to zero). The tempting shortcut is "
                "to draw actions from π and average ∂π(a)/∂θ · r(a) anyway. Here it is for a few sample sizes "
                f"n; the standard error is the spread of the same average repeated with R = {R} different "
                "seeds:"
            ),
            Table(
                ("n", "shortcut: average of ∂π/∂θ · r", "standard error", "exact slope"),
                rows,
                ("r", "r", "r", "r"),
            ),
            Paragraph(
                f"More samples do not bring the shortcut to {g}: it homes in on {fmt(nb.shortcut_limit)}, "
                f"{fmt(abs(nb.shortcut_limit - nb.grad))} too {'low' if nb.shortcut_limit < nb.grad else 'high'}. "
                "The reason is that drawing actions from π already "
                "weights each action by π(a), so the shortcut computes ∫ π(a) · ∂π(a)/∂θ · r(a) da, with "
                "one "
                f"factor of π too many. That integral, computed exactly, is {fmt(nb.shortcut_limit)}; the "
                f"average of all R = {R} shortcut estimates at n = {_count(last.n)} is {fmt(last.mean)} ± "
                f"{fmt(last.se_mean, 2)}."
            ),
        ),
    )


def _multiply_section(nb: Numbers) -> Section:
    s = nb.setup
    rows = tuple(
        (
            str(i + 1),
            fmm(row.action),
            fmm(row.density),
            fmm(row.density_slope_fd),
            fmm(row.ratio, 6),
            fmm(row.score, 6),
            fmm(row.reward),
            fmm(row.term),
        )
        for i, row in enumerate(nb.rows)
    )
    rows += (("average", "", "", "", "", "", "", fmm(nb.table_average)),)
    return Section(
        "3. Multiply by one",
        (
            Paragraph(
                "An average over actions drawn from π needs the weight π(a) in front of each term, and the "
                "integral does not have it. So put it in and take it out again: multiply and divide by π(a). "
                "Drawing actions from π supplies the π(a) in front; the 1/π(a) stays with each sample."
            ),
            Formula(
                (
                    "dJ/dθ = ∫ π(a) · [∂π(a)/∂θ / π(a)] · r(a) da",
                    "      = average over a ~ π of  r(a) · ∂π(a)/∂θ / π(a)",
                )
            ),
            Paragraph(
                "Now it is an average over actions drawn from π, which is something we can compute from "
                "samples. The ratio ∂π/∂θ / π is the derivative of log π, by the chain rule (the derivative "
                "of log x is 1/x). For the Gaussian policy, log π(a) = -(a - θ s)² / (2σ²) + a constant, and "
                "its derivative in θ is a straight line in a:"
            ),
            Formula(("ψ(a) = ∂ log π(a)/∂θ = ∂π(a)/∂θ / π(a) = (a - μ) s / σ²",)),
            Paragraph(
                f"ψ is called the score. Here is the recipe on {_words(len(nb.rows))} actions drawn from π (seed "
                f"{s.seed}). The column ∂π/∂θ uses no formula: it nudges θ up and down by {fmt(nb.fd_step)} "
                "and divides the change in π(a) by the change in θ. The ratio of that column to π(a) matches "
                f"the score from the formula to better than {fmt(RATIO_TOLERANCE)} in every row."
            ),
            Table(
                (
                    "i",
                    "action a",
                    "π(a)",
                    "∂π/∂θ (nudging θ)",
                    "ratio ∂π/∂θ / π",
                    "score (a - μ) s / σ²",
                    "reward r(a)",
                    "r(a) · score",
                ),
                rows,
                ("l", "r", "r", "r", "r", "r", "r", "r"),
            ),
            Paragraph(
                f"The estimate of the slope is the average of the last column, {fmt(nb.table_average)}; "
                f"pgjax's `reinforce` estimator, given the same random key, returns {fmt(nb.reinforce_same_key)}. "
                "Read a row as a vote: the score says which way to move θ to make that action more likely, "
                "and the reward says how much we want it (a negative reward votes the other way). With only "
                f"{_words(len(nb.rows))} votes the estimate has a standard error of "
                f"√(V/{len(nb.rows)}) = {fmt(math.sqrt(nb.single_variance / len(nb.rows)), 3)} (V is the variance "
                f"of one vote; see section 4), so it cannot be trusted yet: the exact slope is {fmt(nb.grad)}. "
                "The next section adds samples."
            ),
            Paragraph(
                "**So what was the log for?** Not for the mathematics: the recipe is the ratio ∂π/∂θ / π, and "
                "the log is a compact way to write and to compute it. log π is often simpler than π (here a "
                "quadratic instead of an exponential), it turns the product of probabilities of a many-step "
                "episode into a sum of per-step terms, and it stays a moderate number where π itself would be "
                "vanishingly small."
            ),
        ),
    )


def _convergence_section(nb: Numbers) -> Section:
    R = nb.setup.n_seeds
    g = fmt(nb.grad)
    rows = tuple(
        (_count(a.n), fmm(a.estimate), fmm(a.se, 3), fmm(math.sqrt(nb.single_variance / a.n), 3), g)
        for a in nb.convergence
    )
    last = nb.convergence[-1]
    return Section(
        "4. More samples, smaller error",
        (
            Paragraph(
                "An estimate from n samples is the average of n terms r(a_i) ψ(a_i). Its expected value is the "
                "exact slope for every n, and its spread shrinks like 1/√n. The table gives one estimate per "
                f"n (seed {nb.setup.seed}) and its standard error, measured by repeating the estimate with "
                f"R = {R} seeds; pgjax computes all R × {len(nb.convergence)} estimates in one batched, compiled "
                "call per estimator (`pgjax.engine.run_sweep`). The exact standard error is √(V/n), where "
                f"V = {fmt(nb.single_variance)} is the exact variance of one term r ψ."
            ),
            Table(
                (
                    "n",
                    "estimate",
                    f"standard error, measured (R = {R})",
                    "standard error, exact √(V/n)",
                    "exact slope",
                ),
                rows,
                ("r", "r", "r", "r", "r"),
            ),
            Paragraph(
                f"The estimates close in on {g} at the predicted rate: 100 times more samples give a 10 times "
                "smaller error, one more correct digit. No estimate in the table is further than "
                f"{fmt(max_standard_errors(nb), 2)} exact standard errors from the slope, and the average of "
                f"all R = {R} estimates at n = {_count(last.n)} is {fmt(last.mean, 6)} ± {fmt(last.se_mean, 2)}."
            ),
        ),
    )


def _buys_section(nb: Numbers) -> Section:
    R = nb.setup.n_seeds
    w = nb.window
    sf, pw = nb.black_box["reinforce"], nb.black_box["pathwise"]
    bb_rows = (
        ("score function: average of r ψ (`reinforce`)", fmm(sf.estimate), fmm(sf.se, 3), fmt(nb.window_grad)),
        ("pathwise: average of r'(a) s (`pathwise`)", fmm(pw.estimate), fmm(pw.se, 3), fmt(nb.window_grad)),
    )
    z = unbiasedness_z(1)
    if abs(nb.window_grad) > z * sf.se:
        verdict = (
            f"The score-function estimate lands within {fmt(abs(sf.estimate - nb.window_grad) / sf.se, 2)} "
            f"standard errors of the exact slope {fmt(nb.window_grad)}. The pathwise estimate is "
            f"{fmt(pw.estimate)}" + (f" in every one of the R = {R} seeds: confidently wrong." if pw.se == 0 else ".")
        )
    else:
        verdict = (
            f"Here the exact slope is {fmt(nb.window_grad)}, too small to tell from 0 with n = {_count(sf.n)} "
            f"samples, so the pathwise estimate of {fmt(pw.estimate)} is not visibly wrong in this setting; "
            "it is wrong wherever the slope is not 0."
        )

    sm = nb.softmax
    est = nb.softmax_estimate
    arm_rows = tuple(
        (
            str(k + 1),
            fmt(sm.logits0[k]),
            fmt(nb.softmax_probs[k]),
            fmt(sm.rewards[k]),
            fmt(nb.softmax_grad[k]),
            fmm(est.estimate[k]),
            fmm(est.se[k], 2),
        )
        for k in range(sm.num_arms)
    )
    draw_rows = tuple(
        (str(i + 1), str(row.arm + 1), fmt(row.reward), _vector(row.score), _vector(row.term))
        for i, row in enumerate(nb.softmax_rows)
    )
    draw_rows += (("average", "", "", "", _vector(nb.softmax_table_average)),)
    return Section(
        "5. What the log buys",
        (
            Paragraph(
                "**The reward can be a black box.** The recipe uses r(a) only as a number; it never "
                "differentiates r. So r can come from a simulator, a game or a person's rating. To make the "
                f"point sharp, swap in an all-or-nothing reward: r(a) = 1 when the action lands within "
                f"{fmt(w.half_width)} of {fmt(w.center)}, and 0 otherwise. Its slope is zero wherever it exists, "
                "so a method that pushes derivatives through r (the pathwise estimator of section 6) learns "
                "nothing from it. Yet the average reward, the chance of landing in the window, does change "
                f"with θ. With n = {_count(sf.n)} samples per estimate (standard errors from R = {R} seeds):"
            ),
            Table(
                ("method", f"estimate (n = {_count(sf.n)})", "standard error", "exact slope"),
                bb_rows,
                ("l", "r", "r", "r"),
            ),
            Paragraph(verdict),
            Paragraph(
                "**The action can be discrete.** Nothing in the recipe needs a continuous action either; only "
                "log π has to be differentiable in the parameters. Take a bandit with "
                f"{_words(sm.num_arms)} arms, chosen with "
                "probabilities π = softmax(logits), each paying a fixed reward. The score of arm k with "
                "respect to the logits is its one-hot vector minus π, and the exact slope is "
                f"dJ/dlogit_j = π_j (r_j - J), with J = {fmt(nb.softmax_objective)}. "
                f"{_words(len(nb.softmax_rows), capital=True)} draws, each with its score and its vote r · score:"
            ),
            Table(
                ("draw", "arm", "reward", "score: one-hot - π", "r · score"),
                draw_rows,
                ("l", "r", "r", "r", "r"),
            ),
            Paragraph(
                f"(`reinforce` with the same key returns {_vector(nb.softmax_reinforce_same_key)}.) With "
                f"n = {_count(est.n)} draws the average settles near the exact slope:"
            ),
            Table(
                (
                    "arm",
                    "logit",
                    "π",
                    "reward",
                    "exact slope dJ/dlogit",
                    f"estimate (n = {_count(est.n)})",
                    "standard error",
                ),
                arm_rows,
                ("l", "r", "r", "r", "r", "r", "r"),
            ),
            Paragraph(
                "The slope lowers the logit of the worst arm, which the policy currently favours, and raises "
                "the others. The sampled arm jumps from one value to another as the logits change, so there "
                "is no smooth path from the logits to the reward: the pathwise estimator does not apply, and "
                "score-function estimators are the standard tool. (pgjax draws arms by the Gumbel-max rule, "
                "the arm with the largest logit plus Gumbel noise, so the noise never depends on the "
                "parameters.)"
                if int(np.argmax(nb.softmax_probs)) == int(np.argmin(sm.rewards))
                else "The sampled arm jumps from one value to another as the logits change, so there is no "
                "smooth path from the logits to the reward: the pathwise estimator does not apply, and "
                "score-function estimators are the standard tool."
            ),
        ),
    )


def _variance_section(nb: Numbers, figure_path: str | None, figure_command: str) -> Section:
    labels = {
        "reinforce": ("score function, no baseline", "r ψ"),
        "mean_reward_baseline": ("baseline b = J = {b}", "(r - b) ψ"),
        "optimal_baseline_exact": ("best constant baseline b* = {b}", "(r - b*) ψ"),
        "pathwise": ("pathwise", "r'(a) s"),
    }
    rows = []
    by_key = {}
    for v in nb.variance:
        name, term = labels[v.key]
        by_key[v.key] = v
        rows.append(
            (
                name.format(b=fmt(v.baseline)) if v.baseline is not None else name,
                term,
                fmt(v.exact),
                f"{fmm(v.measured)} {_interval(v.measured_lo, v.measured_hi)}",
                fmt(v.ratio_exact, 3),
                "reference" if v.key == "reinforce" else f"{fmm(v.ratio, 3)} {_interval(v.ratio_lo, v.ratio_hi)}",
                _count(samples_needed(v.exact)),
            )
        )
    plain, mean_b = by_key["reinforce"], by_key["mean_reward_baseline"]
    best, pw = by_key["optimal_baseline_exact"], by_key["pathwise"]
    R = nb.sizes.variance_seeds
    target = fmt(TARGET_SE)
    return Section(
        "6. The price: noise",
        (
            Paragraph(
                "The recipe is unbiased but noisy: one term r ψ can be large even when the slope is small. "
                f"Here its variance is {fmt(nb.single_variance)}, against a squared slope of "
                f"{fmt(nb.grad**2)}. Two standard remedies:"
            ),
            Bullets(
                (
                    "**Subtract a baseline.** The score averages to zero over π (the probabilities add up to "
                    "one whatever θ is, so their slopes add up to zero). Replacing r by r - b, for any fixed "
                    "number b, therefore leaves the average unchanged but changes the noise. The average "
                    "reward b = J is the usual choice; the constant that minimises the variance is "
                    "b* = E[r ψ²] / E[ψ²].",
                    "**Differentiate the reward instead (pathwise).** When r is differentiable, write "
                    "a = θ s + σ ε with ε ~ N(0, 1) and average r'(a) s, the slope of the reward along the "
                    "sample. It uses information the score function ignores.",
                )
            ),
            Paragraph(
                f"Variances of a one-sample estimate (for n samples, divide by n), exact and measured from "
                f"R = {_count(R)} estimates on shared random numbers, with 95% intervals:"
            ),
            Table(
                (
                    "estimator",
                    "averages",
                    "variance, exact",
                    "variance, measured",
                    "relative to no baseline, exact",
                    "relative, measured",
                    f"samples for standard error {target}",
                ),
                tuple(rows),
                ("l", "l", "r", "r", "r", "r", "r"),
            ),
            Paragraph(
                f"Subtracting the average reward cuts the variance to {fmt(mean_b.ratio_exact, 3)} of the "
                f"plain estimate's, the best baseline to {fmt(best.ratio_exact, 3)}, and differentiating the "
                f"reward to {fmt(pw.ratio_exact, 3)}: for a standard error of {target}, "
                f"{_count(samples_needed(plain.exact))} samples without a baseline, "
                f"{_count(samples_needed(best.exact))} with the best one, {_count(samples_needed(pw.exact))} "
                "pathwise. The measured variances and ratios agree with the exact ones within their "
                "intervals. The pathwise estimator pays for its low noise by needing r'(a): it is the better "
                "choice when the reward is differentiable, and unavailable when it is not (section 5)."
            ),
            Figure(
                figure_path,
                "density, score, reward and their product; histograms of one-sample estimates",
                "Left: the density π(a) (grey, right-hand scale), the score ψ(a), the reward r(a), and the "
                f"product π ψ r = ∂π/∂θ · r, whose shaded area is the exact slope {fmt(nb.grad)}. Right: "
                f"histograms (log scale) of the {_count(R)} one-sample estimates (n = 1) of three estimators, "
                "over the range of the middle 99% of the plain ones; the dashed line is the exact slope.",
            )
            if figure_path is not None
            else Paragraph(
                "(The figure of this section, drawn for these settings, comes with the Markdown file that "
                f"`{figure_command}` writes; printing draws none.)"
            ),
        ),
    )


def _zero(x: float, tolerance: float = 1e-12) -> str:
    """An exact value that is 0 up to float64 rounding, printed as 0."""
    return fmt(0.0 if abs(x) < tolerance else x)


def _log_sigma_section(nb: Numbers) -> Section:
    s, ls = nb.setup, nb.log_sigma
    R = nb.setup.n_seeds
    R_var = nb.sizes.variance_seeds
    formulas = {"theta": ("θ", "(a - μ) s / σ² = ε s / σ"), "log_sigma": ("log σ", "(a - μ)² / σ² - 1 = ε² - 1")}
    score_rows = tuple(
        (
            formulas[row.coordinate][0],
            formulas[row.coordinate][1],
            _zero(row.mean_exact),
            f"{fmm(row.mean, 2)} ± {fmt(row.mean_se, 2)}",
            fmt(row.variance_exact),
            f"{fmm(row.variance)} {_interval(row.variance_lo, row.variance_hi)}",
        )
        for row in ls.scores
    )
    g = fmt(ls.grad)
    conv_rows = tuple(
        (_count(a.n), fmm(a.estimate), fmm(a.se, 3), fmm(math.sqrt(ls.single_variance / a.n), 3), g)
        for a in ls.convergence
    )
    plain, based = ls.variance
    var_rows = tuple(
        (
            name,
            term,
            fmt(v.exact),
            f"{fmm(v.measured)} {_interval(v.measured_lo, v.measured_hi)}",
            fmt(v.ratio_exact, 3),
            "reference" if v is plain else f"{fmm(v.ratio, 3)} {_interval(v.ratio_lo, v.ratio_hi)}",
        )
        for v, name, term in (
            (plain, "no baseline", "r (ε² - 1)"),
            (based, f"baseline b = J = {fmt(based.baseline)}", "(r - b) (ε² - 1)"),
        )
    )
    sigma_rows = tuple(
        (
            fmt(row.sigma),
            fmt(row.grad_theta),
            fmt(row.var_theta, 3),
            fmt(row.var_theta_baseline, 3),
            fmt(row.grad_log_sigma),
            fmt(row.var_log_sigma, 3),
            fmt(row.var_log_sigma_baseline, 3),
        )
        for row in ls.sigma_rows
    )
    small = ls.sigma_rows[0]
    here = ls.sigma_rows[nb.sizes.sigma_factors.index(1.0)]
    part = small.objective**2 * s.state**2 / small.sigma**2  # Var[J psi_theta] at the smallest sigma
    change = f"{fmt(here.var_theta, 3)} → {fmt(small.var_theta, 3)}"
    change_b = f"{fmt(here.var_theta_baseline, 3)} → {fmt(small.var_theta_baseline, 3)}"
    if small.var_theta > here.var_theta:
        with_b = "but quieter" if small.var_theta_baseline < here.var_theta_baseline else "and"
        verdict = (
            f"Narrowing the policy from σ = {fmt(here.sigma)} to σ = {fmt(small.sigma)} makes the θ estimates "
            f"noisier without a baseline ({change}; the J ψ part by itself has variance {fmt(part, 3)}), {with_b} with "
            f"b = J ({change_b}). So a policy that learns to be precise needs its baseline more and more."
        )
    else:
        verdict = (
            f"Here narrowing the policy from σ = {fmt(here.sigma)} to σ = {fmt(small.sigma)} does not make the "
            f"θ estimates noisier ({change} without a baseline, {change_b} with b = J): the J ψ part, "
            f"{fmt(part, 3)} at σ = {fmt(small.sigma)}, stays small."
        )
    if nb.best_theta is not None:
        slope = (
            f"For the quadratic reward J = -((μ - {fmt(s.target)})² + σ²), so dJ/dlog σ = -2σ² = {g}: "
            "a narrower policy always earns more on average."
        )
    else:
        way = "narrowing" if ls.grad < 0 else "widening"
        slope = f"Here dJ/dlog σ = {g}: {way} the policy raises the average reward."
    return Section(
        "7. Learning σ too: the log σ score",
        (
            Paragraph(
                "So far σ was held fixed. The main experiment (`pgjax run bandit-variance`) treats it as a "
                "parameter too and estimates the slope in log σ alongside θ (learning log σ rather than σ, no "
                "gradient step can make σ negative). The recipe is unchanged: only the score is new. Differentiate log π(a) = -(a - μ)² / (2σ²) - log σ + a constant in log σ, and "
                "write ε = (a - μ) / σ for the standardised action (ε ~ N(0, 1)):"
            ),
            Formula(("ψ_logσ(a) = ∂ log π(a)/∂ log σ = (a - μ)² / σ² - 1 = ε² - 1",)),
            Paragraph(
                "**Why its average is zero.** The average of ε² is 1, the variance of a standard normal, so "
                "ε² - 1 averages to 0: actions further than σ from μ (|ε| > 1) vote to widen the policy, "
                "closer ones vote to narrow it, and the votes balance. It is the identity of section 6 again "
                "(the slopes of probabilities that add up to one add up to zero), so a baseline is allowed "
                "for this coordinate too. The variance of the score is E[(ε² - 1)²] = E[ε⁴] - 2 E[ε²] + 1 = "
                "3 - 2 + 1 = 2, whatever θ, σ and s are; the θ score ε s / σ has variance s² / σ². Exact "
                f"values (Gauss-Hermite quadrature of pgjax's autodiff score), and measured on the R = {_count(R_var)} "
                "single samples of section 6 (mean ± standard error; variance with a 95% interval):"
            ),
            Table(
                ("score", "formula", "mean, exact", "mean, measured", "variance, exact", "variance, measured"),
                score_rows,
                ("l", "l", "r", "r", "r", "r"),
            ),
            Paragraph(
                f"{slope} The log σ entries of the estimates of section 4 (the same samples; pgjax's "
                "`reinforce` returns both coordinates at once) close in on it at the rate √(V/n), with "
                f"V = {fmt(ls.single_variance)} the exact variance of one term r (ε² - 1) (standard errors "
                f"from R = {R} seeds):"
            ),
            Table(
                ("n", "log σ estimate", "standard error, measured", "standard error, exact", "exact slope"),
                conv_rows,
                ("r", "r", "r", "r", "r"),
            ),
            Paragraph(
                "**What it does to the variance.** The baseline works on this coordinate as on θ. Variances "
                f"of one term of the log σ coordinate, exact and measured on the R = {_count(R_var)} samples of "
                "section 6, with 95% intervals:"
            ),
            Table(
                (
                    "log σ coordinate",
                    "averages",
                    "variance, exact",
                    "variance, measured",
                    "relative, exact",
                    "relative, measured",
                ),
                var_rows,
                ("l", "l", "r", "r", "r", "r"),
            ),
            Paragraph(
                "Learning σ also changes the noise of the θ coordinate, because its score ε s / σ grows as "
                "the policy narrows. Split a term as r ψ = J ψ + (r - J) ψ: the first part has variance "
                "J² s² / σ², which a baseline b = J removes. Exact variances of one term at other values of "
                f"σ (θ = {fmt(s.theta)} and s = {fmt(s.state)} as before):"
            ),
            Table(
                (
                    "σ",
                    "dJ/dθ",
                    "Var r ψ_θ",
                    "Var (r - J) ψ_θ",
                    "dJ/dlog σ",
                    "Var r ψ_logσ",
                    "Var (r - J) ψ_logσ",
                ),
                sigma_rows,
                ("r", "r", "r", "r", "r", "r", "r"),
            ),
            Paragraph(
                f"{verdict} The log σ score keeps its variance of 2 at every σ; the noise of its coordinate "
                "changes only through the rewards."
            ),
        ),
    )


def _two_d_section(nb: Numbers) -> Section:
    s, t = nb.setup, nb.two_d
    R = s.n_seeds
    est = t.estimate
    (s1, s2), (t1, t2) = t.state, t.theta
    names = ("θ1", "θ2", "log σ")
    entries = (fmt(s1), fmt(s2), "")
    rows = tuple(
        (
            names[j],
            entries[j],
            fmt(t.grad[j]),
            fmm(est.estimate[j]),
            fmm(est.se[j], 3),
            fmm(math.sqrt(t.single_variance[j] / est.n), 3),
        )
        for j in range(3)
    )
    return Section(
        "8. Two weights: a two-dimensional state",
        (
            Paragraph(
                "The main experiment's state has two entries, s = (s1, s2), one weight each, and the mean "
                f"action is μ = θ · s = θ1 s1 + θ2 s2. Take s = ({fmt(s1)}, {fmt(s2)}) and "
                f"θ = ({fmt(t1)}, {fmt(t2)}): the same mean action μ = {fmt(nb.mu)} as before, so the same "
                "policy and the same average reward. The score of θ is now a vector, one entry per weight:"
            ),
            Formula(("ψ_θ(a) = (a - μ) s / σ² = (ε / σ) (s1, s2),      ψ_logσ(a) = ε² - 1",)),
            Paragraph(
                "J depends on the weights only through μ, so by the chain rule dJ/dθ = s · dJ/dμ: the "
                f"gradient points along s. Its first entry, {fmt(nb.grad)}, is the slope of section 1, and its "
                f"second is s2 / s1 = {fmt(s2 / s1)} times that; the log σ entry is that of section 7. "
                f"Estimates from n = {_count(est.n)} samples, standard errors from R = {R} seeds:"
            ),
            Table(
                (
                    "coordinate",
                    "s entry",
                    "exact slope",
                    f"estimate (n = {_count(est.n)})",
                    "standard error, measured",
                    "standard error, exact",
                ),
                rows,
                ("l", "r", "r", "r", "r", "r"),
            ),
            Paragraph(
                "Every sample's θ score is a multiple of s, so every estimate is too: in each of the "
                f"R = {R} seeds the θ2 estimate is s2 / s1 times the θ1 estimate (largest difference "
                f"{fmt(t.max_ratio_gap, 2)}, correlation {fmt(t.correlation, 6)}). With one fixed state the "
                "samples cannot tell the two weights apart: they only say whether μ should go up or down, and "
                "the gradient moves θ along s. A state drawn afresh for every sample (`pgjax run "
                "bandit-variance --state-std 0.5`) gives scores that point in different directions, and each "
                "weight its own information."
            ),
        ),
    )


def _summary_section(nb: Numbers) -> Section:
    return Section(
        "What to remember",
        (
            Bullets(
                (
                    "The slope of an average reward moves inside the integral onto the density π, not onto the reward.",
                    "That integral is not an average over π, so averaging ∂π/∂θ · r over drawn actions gives "
                    f"the wrong answer ({fmt(nb.shortcut_limit)} instead of {fmt(nb.grad)} here).",
                    "Multiplying and dividing by π makes it one: dJ/dθ is the average of r(a) ψ(a) over "
                    "a ~ π, with the score ψ = ∂π/∂θ / π = ∂ log π/∂θ, which for this Gaussian is "
                    "(a - μ) s / σ².",
                    "The recipe needs only samples, their rewards and log π: no derivative of r, and it "
                    "works for discrete actions.",
                    "Its price is variance. Baselines reduce it; when r is differentiable, the pathwise "
                    "estimator is usually far less noisy.",
                )
            ),
        ),
    )


def compose(
    nb: Numbers, *, command: str, figure_path: str | None, checked: bool = True, figure_command: str = ""
) -> Document:
    """The walkthrough document.

    Args:
      nb: the numbers (from :func:`pgjax.explain.numbers.compute`).
      command: the command line that produced the page (named in its header).
      figure_path: the figure's path relative to the Markdown file, or None for a page printed without one
        (then ``figure_command`` says which command draws it).
      checked: the page is the committed docs/log-derivative-trick.md (or prints exactly it), whose claims and
        staleness the tests check; otherwise the header says only that the tests check the committed page.
    """
    s = nb.setup
    tests = (
        "`tests/explain/test_explain.py` checks each claim and fails when this file is out of date."
        if checked
        else "The same code writes docs/log-derivative-trick.md, whose claims `tests/explain/test_explain.py` checks."
    )
    header = (
        f"Every number on this page was computed by pgjax when `{command}` ran (float64, seed {s.seed}; "
        f"standard errors from R = {s.n_seeds} seeds unless stated). {tests}"
    )
    return Document(
        title=TITLE,
        header=header,
        markdown_comment=f"Generated by `{command}`. Do not edit: change pgjax/explain/ and run it again.",
        sections=(
            _setup_section(nb),
            _shortcut_section(nb),
            _multiply_section(nb),
            _convergence_section(nb),
            _buys_section(nb),
            _variance_section(nb, figure_path, figure_command),
            _log_sigma_section(nb),
            _two_d_section(nb),
            _summary_section(nb),
        ),
    )
