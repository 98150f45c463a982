"""Tests for ``pgjax explain --html``: the page is written by the command line once (default flags), opened
once in a real headless Chromium (tests/browser.py), and its sliders are moved; the numbers it then shows
must be the closed forms for the new (theta, sigma), computed here independently of pgjax/explain/:

for the quadratic reward r(a) = -(a - c)^2 and a ~ N(mu, sigma^2), mu = theta s, d = mu - c,
    J = -(d^2 + sigma^2),  dJ/dtheta = -2 d s,  dJ/dlog sigma = -2 sigma^2,
    Var[r psi_theta] = s^2 (d^4 / sigma^2 + 14 d^2 + 15 sigma^2)     (polynomial algebra in eps ~ N(0, 1)),
and the running estimate after all n samples is what pgjax's `reinforce` returns for the engine's key of seed 0
at that n. Grid points are theta0 + (3 sigma0 / |s|)(2 i / (T - 1) - 1) and sigma0 2^(2 j / (S - 1) - 1), as the
page's docstring states. The unbiasedness check (alpha = 1e-6, Bonferroni over the 2 settings) can fail.
"""

from __future__ import annotations

import math
import os

import jax
import numpy as np
import pytest
from browser import open_page

from pgjax.analysis import stats
from pgjax.engine import seed_key
from pgjax.estimators import Reinforce
from pgjax.explain import command
from pgjax.explain.explorer import GridSizes
from pgjax.problems import LinearGaussianBandit, make_reward

THETA0, SIGMA0, STATE, TARGET = 0.5, 1.0, 2.0, 2.0  # pgjax explain's defaults
SIZES = GridSizes()


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("explain-page") / "walkthrough.html"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PGJAX_NO_COMPILE_CACHE", "1")  # leave JAX's global config alone
        assert command.main(["--html", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def page(page_file):
    with open_page(page_file) as p:
        yield p


def _theta(i: int) -> float:
    return THETA0 + 3 * SIGMA0 / abs(STATE) * (2 * i / (SIZES.thetas - 1) - 1)


def _sigma(j: int) -> float:
    return SIGMA0 * 2.0 ** (2 * j / (SIZES.sigmas - 1) - 1)


def _expected(i: int, j: int) -> dict[str, float]:
    theta, sigma = _theta(i), _sigma(j)
    d = theta * STATE - TARGET
    return {
        "theta": theta,
        "sigma": sigma,
        "objective": -(d**2 + sigma**2),
        "grad": -2 * d * STATE,
        "grad_log_sigma": -2 * sigma**2,
        "variance": STATE**2 * (d**4 / sigma**2 + 14 * d**2 + 15 * sigma**2),
    }


def _reinforce(i: int, j: int) -> float:
    """pgjax's reinforce for the engine's key of seed 0 at n = n_max, at grid point (i, j)."""
    with jax.enable_x64(True):
        problem = LinearGaussianBandit.build(
            state=[STATE], theta=[_theta(i)], sigma=_sigma(j), reward=make_reward("quadratic", target=TARGET)
        )
        key = seed_key(jax.random.key(0), 0, SIZES.n_max)
        return float(Reinforce()(key, problem.init_params(), problem, SIZES.n_max).theta[0])


def _shown(page) -> dict[str, str]:
    ids = ("theta-value", "sigma-value", "objective", "grad-theta", "grad-log-sigma", "estimate", "variance")
    return {key: page.text_content(f"#{key}") for key in ids}


def _move(page, slider: str, index: int) -> None:
    page.eval_on_selector(
        f"#{slider}", "(el, v) => { el.value = String(v); el.dispatchEvent(new Event('input')); }", index
    )


def _rounds(shown: str, exact: float, digits: int = 4) -> bool:
    """Whether the text ``shown`` is ``exact`` rounded to ``digits`` significant figures (either neighbour at
    a rounding tie, where float64 rounding decides)."""
    if exact == 0:
        return float(shown) == 0
    half_unit = 0.5 * 10 ** (math.floor(math.log10(abs(exact))) - digits + 1)
    return abs(float(shown) - exact) <= half_unit * (1 + 1e-9)


def _check(page, i: int, j: int) -> float:
    """The shown numbers are the closed forms at (i, j); returns the shown estimate's distance in exact SEs."""
    e = _expected(i, j)
    shown = _shown(page)
    assert _rounds(shown["theta-value"], e["theta"]) and _rounds(shown["sigma-value"], e["sigma"]), shown
    assert _rounds(shown["objective"], e["objective"]), (shown, e)
    assert _rounds(shown["grad-theta"], e["grad"]), (shown, e)
    assert _rounds(shown["grad-log-sigma"], e["grad_log_sigma"]), (shown, e)
    assert _rounds(shown["variance"], e["variance"], 3), (shown, e)
    estimate = _reinforce(i, j)
    assert _rounds(shown["estimate"], estimate), (shown, estimate)
    return abs(estimate - e["grad"]) / math.sqrt(e["variance"] / SIZES.n_max)


def test_page_is_one_self_contained_file(page_file):
    text = page_file.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.count("<script") == 2
    assert "https://" not in text and "src=" not in text and "<link" not in text and "@import" not in text
    assert text.count("http://") == text.count("http://www.w3.org/2000/svg")  # only the SVG namespace name
    assert "pgjax explain --html " in text and os.path.getsize(page_file) < 1_000_000


def test_sliders_redraw_with_pgjax_numbers(page):
    """No JavaScript error; at the start and after each slider move the numbers shown are the closed forms
    for the slider's (theta, sigma), the estimate is pgjax's reinforce, and the curves are redrawn."""
    assert page.errors == []
    i0, j0 = SIZES.thetas // 2, SIZES.sigmas // 2
    distances = [_check(page, i0, j0)]
    before = {name: page.get_attribute(f"#{name}-path", "d") for name in ("density", "product", "running")}
    _move(page, "theta", 4)
    distances.append(_check(page, 4, j0))
    after = {name: page.get_attribute(f"#{name}-path", "d") for name in before}
    assert all(after[name] != before[name] for name in before), "the curves did not redraw"
    _move(page, "sigma", 0)
    shown = _shown(page)
    e = _expected(4, 0)
    assert _rounds(shown["sigma-value"], e["sigma"]) and _rounds(shown["grad-log-sigma"], e["grad_log_sigma"])
    assert _rounds(shown["variance"], e["variance"], 3) and _rounds(shown["grad-theta"], e["grad"]), (shown, e)
    assert page.get_attribute("#density-path", "d") != after["density"]
    assert page.errors == []
    assert max(distances) <= stats.unbiasedness_z(len(distances)), distances
    assert np.isfinite(distances).all()


def test_html_to_a_folder_is_a_config_error(tmp_path):
    from pgjax.errors import ConfigError

    with pytest.raises(ConfigError, match="^--html: .*is a folder"):
        command.main(["--html", str(tmp_path)])
    assert list(tmp_path.iterdir()) == []
