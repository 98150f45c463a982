"""One fixed look (colour, marker, line style) per estimator, for every figure of every experiment.

An estimator is drawn the same way wherever it appears: in ``figure.png``, ``bias.png`` and ``ratio.png``
of one run, and across experiments. :data:`ESTIMATOR_STYLES` gives each estimator and learning signal pgjax
has a fixed style; :func:`style_map` gives the styles of the estimators of one figure, with a
deterministic fallback for names not in the registry (plugin estimators, training variants such as
``reinforce@lr=0.1``) that never repeats a style already in the figure.

Colours are the Okabe-Ito palette (distinguishable with the common forms of colour blindness; its yellow
is left out, as it is too faint on white). Colours are shared by related estimators (green for the
optimal baselines, vermillion for the pathwise family, purple for the measure-valued ones, ...), which
then differ in marker and line style: no two registered estimators have the same (colour, marker), and
two of one colour never have markers of the same shape group (:data:`MARKER_GROUPS`), so a line hidden
under another still shows its own markers (the figures also stagger the estimators slightly along x).
Dotted lines are kept for exact values and dashed grey for reference lines, so no estimator uses ``":"``.

This module needs neither JAX nor matplotlib.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "OKABE_ITO",
    "Style",
    "ESTIMATOR_STYLES",
    "REFERENCE_ESTIMATOR",
    "MARKER_GROUPS",
    "estimator_style",
    "style_map",
]

#: The Okabe-Ito colours by name.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

_K = OKABE_ITO["black"]
_O = OKABE_ITO["orange"]
_S = OKABE_ITO["sky_blue"]
_G = OKABE_ITO["bluish_green"]
_B = OKABE_ITO["blue"]
_V = OKABE_ITO["vermillion"]
_P = OKABE_ITO["reddish_purple"]

_DASH_DOT_DOT = (0, (5, 1.5, 1.5, 1.5, 1.5, 1.5))


@dataclass(frozen=True)
class Style:
    """How one estimator is drawn. ``filled=False`` draws hollow markers (used for the fallback variants)."""

    color: str
    marker: str
    linestyle: Any = "-"
    filled: bool = True

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``Axes.plot``/``errorbar``/``Line2D``."""
        out: dict[str, Any] = {"color": self.color, "marker": self.marker, "linestyle": self.linestyle}
        if not self.filled:
            out["markerfacecolor"] = "white"
        return out


#: The estimator that variance ratios are taken against (black, circles, solid).
REFERENCE_ESTIMATOR = "reinforce"

#: The fixed style of every estimator and learning signal pgjax has: the score-function estimators of
#: ``pgjax.estimators.ALL_ESTIMATORS``, the trajectory estimators of
#: ``pgjax.estimators.trajectory.TRAJECTORY_ESTIMATORS``, the learning signals of
#: ``pgjax.estimators.episodic.SIGNALS``, the PGPE estimator of lqr-pgpe and the GAE critics of lqr-gae.
#: A new estimator gets its entry here (tests/test_styles.py checks that every registered one has one).
ESTIMATOR_STYLES: dict[str, Style] = {
    # black: the score function without a baseline (the reference of every ratio) and its normalised form
    "reinforce": Style(_K, "o", "-"),
    "normalised_return": Style(_K, "v", "--"),
    # sky blue: a constant or batch-mean baseline
    "constant_baseline": Style(_S, "v", "-"),
    "batch_mean_baseline": Style(_S, "s", "--"),
    # blue: leave-one-out and critic baselines
    "leave_one_out": Style(_B, "d", "-"),
    "value_baseline": Style(_B, "p", "--"),
    "learned_value_baseline": Style(_B, "<", "-."),
    "state_value_baseline": Style(_B, "*", "--"),
    # green: optimal (variance-minimising) baselines; squares dashed: estimated from the batch, as above
    "optimal_baseline_exact": Style(_G, "^", "-"),
    "optimal_baseline_batch": Style(_G, "s", "--"),
    "reward_to_go_optimal": Style(_G, "X", "-."),
    "pgpe_symmetric": Style(_G, "h", "--"),
    # vermillion: the reparameterisation (pathwise) family
    "pathwise": Style(_V, "D", "-"),
    "delta_cv_pathwise": Style(_V, ">", "--"),
    "delta_cv_pathwise_est": Style(_V, "X", "-."),
    # reddish purple: measure-valued, and reward-to-go
    "measure_valued": Style(_P, "P", "-"),
    "measure_valued_coupled": Style(_P, "h", "--"),
    "reward_to_go": Style(_P, ">", "-"),
    # orange: the score function with the delta-method control variate, and GAE
    "delta_cv_score": Style(_O, "p", "-"),
    "delta_cv_score_est": Style(_O, "v", "--"),
    "gae": Style(_O, "*", "-"),
    # orange crosses: the variance-minimising state-dependent baseline (green's free shapes clash with the
    # contextual bandit's other estimators)
    "optimal_state_baseline": Style(_O, "P", "-."),
    # reddish purple diamonds: the action-dependent factorised baseline (Wu et al. 2018)
    "action_factorised_baseline": Style(_P, "D", "-"),
    # GAE with each critic (lqr-gae), in the colour of the critic
    "gae[exact]": Style(_G, "*", "-"),
    "gae[stationary]": Style(_V, "s", "--"),
    "gae[learned]": Style(_B, "P", _DASH_DOT_DOT),
    # sampling without replacement (pgjax.estimators.without_replacement), a colour per family as in Kool et al.
    # (2020)'s figure: dashed without a baseline, solid with one
    "unordered_set": Style(_S, "X", "--"),
    "unordered_set_baseline": Style(_S, "H", "-"),
    "sum_and_sample": Style(_O, "s", "--"),
    "sum_and_sample_baseline": Style(_O, "D", "-"),
    "sum_and_sample_stochastic": Style(_V, "*", "--"),
    "sum_and_sample_stochastic_baseline": Style(_V, "8", "-"),
    # the sample KL estimators (pgjax.estimators.kl, kl-estimators): solid for the unbiased k1 and k3, dashed
    # for the biased k2
    "k1": Style(_B, "s", "-"),
    "k2": Style(_P, "s", "--"),
    "k3": Style(_G, "D", "-"),
    # the group baselines of RL from verifiable rewards (pgjax.estimators.group, group-baselines), in the free
    # (colour, marker) pairs: sky blue for the batch mean and Dr. GRPO (a batch mean here), black for GRPO (a
    # normalised return, as normalised_return is), RLOO and the optimal constant, reddish purple for shrinkage
    "group_mean": Style(_S, "*", "-"),
    "dr_grpo": Style(_S, "D", "--"),
    "grpo": Style(_K, "D", "-."),
    "group_rloo": Style(_K, "P", "-"),
    "group_optimal": Style(_K, "*", "--"),
    "group_shrinkage": Style(_P, "*", "-"),
}

#: Marker shapes that look alike at plotting size; two estimators of one colour never share a group.
MARKER_GROUPS: dict[str, str] = {
    "o": "round",
    "h": "round",
    "H": "round",
    "p": "round",
    "8": "round",
    "s": "square",
    "D": "diamond",
    "d": "diamond",
    "^": "triangle",
    "v": "triangle",
    "<": "triangle",
    ">": "triangle",
    "P": "cross",
    "X": "cross",
    "*": "star",
}

# The fallback: every (colour, marker) pair no registered estimator uses, in a fixed order.
_FALLBACK_COLORS = (_B, _V, _G, _P, _O, _S, _K)
_FALLBACK_MARKERS = ("o", "s", "^", "D", "v", "<", ">", "p", "h", "*", "P", "X", "d", "H", "8")
_FALLBACK_LINESTYLES = ("-", "--", "-.", _DASH_DOT_DOT)
_TAKEN = {(s.color, s.marker) for s in ESTIMATOR_STYLES.values()}
_FALLBACK: tuple[Style, ...] = tuple(
    Style(color, marker, _FALLBACK_LINESTYLES[(i + j) % len(_FALLBACK_LINESTYLES)], filled=False)
    for j, marker in enumerate(_FALLBACK_MARKERS)
    for i, color in enumerate(_FALLBACK_COLORS)
    if (color, marker) not in _TAKEN
)
# Variants of a registered estimator ("reinforce@lr=0.1"): its colour, its marker hollow, then other lines.
_VARIANT_LINESTYLES = ("-", "--", "-.", _DASH_DOT_DOT)


def _base(name: str) -> str | None:
    """The registered estimator a variant name is built on (``reinforce@lr=0.1`` -> ``reinforce``), or None."""
    for sep in ("@", " (", "|"):
        head = name.split(sep)[0].strip()
        if head != name and head in ESTIMATOR_STYLES:
            return head
    return None


def _key(style: Style) -> tuple[str, str, str, bool]:
    return (style.color, style.marker, repr(style.linestyle), style.filled)


def _look(style: Style) -> tuple[str, str]:
    return (style.color, style.marker)


def style_map(names: Iterable[Any]) -> dict[Any, Style]:
    """The style of each estimator of one figure: no two alike (distinct colour or marker).

    Registered names get their fixed :data:`ESTIMATOR_STYLES` entry. A variant of a registered name
    (``<name>@...``, ``<name> (...)``, ``<name>|...``) gets that name's colour with a hollow marker and its
    own line style, in sorted order of the variants. Any other name gets a hollow-marker style from the
    pairs no registered estimator uses, chosen by a hash of the name (so it does not depend on the other
    names) and moved on to the next free one if another name of the figure has it already.

    Pass every estimator of a results table (not only those one panel draws), so that the figures drawn
    from one table agree.
    """
    names = list(dict.fromkeys(names))
    out: dict[Any, Style] = {}
    used: set[tuple[str, str]] = set()
    for name in names:
        if str(name) in ESTIMATOR_STYLES:
            out[name] = ESTIMATOR_STYLES[str(name)]
            used.add(_look(out[name]))
    # variants of registered estimators, grouped by base, in sorted order within a group
    variants: dict[str, list[Any]] = {}
    for name in names:
        if name not in out and (base := _base(str(name))) is not None:
            variants.setdefault(base, []).append(name)
    for base, group in variants.items():
        parent = ESTIMATOR_STYLES[base]
        markers = [parent.marker] + [m for m in _FALLBACK_MARKERS if m != parent.marker]
        free = [m for m in markers if (parent.color, m) not in used]
        for k, name in enumerate(sorted(group, key=str)):
            marker = free[k % len(free)] if free else markers[k % len(markers)]
            out[name] = Style(parent.color, marker, _VARIANT_LINESTYLES[k % len(_VARIANT_LINESTYLES)], filled=False)
            used.add(_look(out[name]))
    # anything else: the fallback pool, by a stable hash of the name
    for name in sorted((n for n in names if n not in out), key=str):
        start = zlib.crc32(str(name).encode()) % len(_FALLBACK)
        for step in range(len(_FALLBACK)):
            style = _FALLBACK[(start + step) % len(_FALLBACK)]
            if _look(style) not in used:
                break
        out[name] = style
        used.add(_look(style))
    return {name: out[name] for name in names}


def estimator_style(name: Any, names: Iterable[Any] | None = None) -> dict[str, Any]:
    """Plot keyword arguments (``color``, ``marker``, ``linestyle``, maybe ``markerfacecolor``) of
    estimator ``name`` drawn among ``names`` (default: alone); see :func:`style_map`."""
    group = list(names) if names is not None else []
    if name not in group:
        group.append(name)
    return style_map(group)[name].kwargs()
