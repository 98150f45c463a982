"""The interactive page of ``pgjax explain --html``: one self-contained HTML file (inline CSS, JavaScript and
SVG; no network), whose sliders move theta and sigma over the grid of :mod:`pgjax.explain.explorer`.

Nothing is computed in the browser: the page embeds pgjax's numbers as JSON and only looks them up and draws
them. Curves are rounded to 4 significant figures for drawing (values below 1e-9 of a curve's largest are
drawn as 0); every number shown as text is formatted here, by :func:`pgjax.explain.document.fmt`, from the
float64 values. Elements a test (or a reader's script) can read: ``#theta`` and ``#sigma`` (the sliders,
values are grid indices), ``#theta-value``, ``#sigma-value``, ``#mu``, ``#objective``, ``#grad-theta``,
``#grad-log-sigma``, ``#estimate``, ``#variance``, ``#standard-error``, ``#off-by``, and the SVG paths ``#density-path``,
``#score-path``, ``#reward-path``, ``#product-path`` and ``#running-path``.
"""

from __future__ import annotations

import html
import json
import math

import numpy as np

from pgjax.explain.document import fmt
from pgjax.explain.explorer import Explorer

TITLE = "The log-derivative trick, live"


def _curve(values: np.ndarray) -> list[float]:
    """Rounded to 4 significant figures for drawing; values below 1e-9 of the largest drawn as 0."""
    values = np.asarray(values, dtype=np.float64)
    floor = 1e-9 * float(np.max(np.abs(values), initial=0.0))
    return [0.0 if abs(v) <= floor else float(f"{v:.4g}") for v in values]


def cell_text(grid: Explorer, i: int, j: int) -> dict[str, str]:
    """The numbers shown for grid point (i, j), as displayed."""
    n = int(grid.ns[-1])
    se = math.sqrt(grid.single_variance[i, j] / n)
    estimate = float(grid.running[i, j, -1])
    off = (estimate - grid.grad[i, j]) / se if se > 0 else 0.0
    return {
        "theta-value": fmt(grid.thetas[i]),
        "sigma-value": fmt(grid.sigmas[j]),
        "mu": fmt(grid.thetas[i] * grid.setup.state),
        "objective": fmt(grid.objective[i, j]),
        "grad-theta": fmt(grid.grad[i, j]),
        "grad-log-sigma": fmt(grid.grad_log_sigma[i, j]),
        "estimate": fmt(estimate),
        "variance": fmt(grid.single_variance[i, j], 3),
        "standard-error": fmt(se, 3),
        "off-by": fmt(off, 2),
    }


def data(grid: Explorer) -> dict:
    """The JSON the page embeds."""
    T, S = len(grid.thetas), len(grid.sigmas)
    mid = slice(len(grid.actions) // 4, 3 * len(grid.actions) // 4 + 1)
    cells = [
        [
            {
                "density": _curve(grid.density[i, j]),
                "score": _curve(grid.score[i, j]),
                "product": _curve(grid.product[i, j]),
                "running": _curve(grid.running[i, j]),
                "grad": float(grid.grad[i, j]),
                "sd": float(math.sqrt(grid.single_variance[i, j])),
                "mu": float(grid.thetas[i] * grid.setup.state),
                "text": cell_text(grid, i, j),
            }
            for j in range(S)
        ]
        for i in range(T)
    ]
    score_range = 3.0 * abs(grid.setup.state) / float(np.min(grid.sigmas))
    return {
        "thetas": [fmt(t) for t in grid.thetas],
        "sigmas": [fmt(s) for s in grid.sigmas],
        "start": list(grid.start),
        "actions": _curve(grid.actions),
        "reward": _curve(grid.reward),
        "ns": [int(n) for n in grid.ns],
        "cells": cells,
        "scales": {
            "density": [0.0, 1.08 * float(np.max(grid.density))],
            "score": [-score_range, score_range],
            "reward": [float(np.min(grid.reward[mid])), float(np.max(grid.reward[mid]))],
        },
        "labels": {
            "reward": f"reward r(a) = {grid.reward_text}",
            "n": f"{int(grid.ns[-1]):,}",
        },
    }


def render(grid: Explorer, *, command: str) -> str:
    """The page as one HTML string."""
    payload = json.dumps(data(grid), separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    s = grid.setup
    T, S = len(grid.thetas), len(grid.sigmas)
    i0, j0 = grid.start
    n = f"{int(grid.ns[-1]):,}"
    header = (
        f"Every number on this page was computed by pgjax when <code>{html.escape(command)}</code> ran "
        f"(float64, seed {s.seed}), for {T} values of θ and {S} of σ; your browser only looks them up and "
        "draws them. The same recipe in words and tables: <code>pgjax explain</code> "
        "(docs/log-derivative-trick.md)."
    )
    values = cell_text(grid, i0, j0)
    rows = (
        ("mean action μ = θ s", "mu"),
        ("average reward J", "objective"),
        ("exact slope dJ/dθ", "grad-theta"),
        ("exact slope dJ/dlog σ", "grad-log-sigma"),
        (f"estimate of dJ/dθ from n = {n} samples", "estimate"),
        ("variance V of one vote r ψ", "variance"),
        ("standard error of the estimate √(V/n)", "standard-error"),
        ("estimate − exact, in standard errors", "off-by"),
    )
    table = "\n".join(f'<tr><th>{label}</th><td id="{key}">{html.escape(values[key])}</td></tr>' for label, key in rows)
    return _TEMPLATE.format(
        title=TITLE,
        header=header,
        state=fmt(s.state),
        theta_max=T - 1,
        sigma_max=S - 1,
        i0=i0,
        j0=j0,
        theta0=html.escape(values["theta-value"]),
        sigma0=html.escape(values["sigma-value"]),
        table=table,
        n=n,
        payload=payload,
        script=_SCRIPT,
        style=_STYLE,
    )


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #222;
       background: #fafaf7; }
header { padding: 18px 28px 6px; }
h1 { font-size: 24px; margin: 0 0 6px; }
.provenance { color: #555; font-size: 13px; max-width: 1100px; margin: 0; }
main { display: flex; gap: 24px; padding: 10px 28px 28px; align-items: flex-start; }
.controls { width: 330px; flex: none; }
.plots { flex: 1; min-width: 0; }
.slider { background: #fff; border: 1px solid #ddd; border-radius: 8px; padding: 10px 14px; margin-bottom: 12px; }
.slider label { display: flex; justify-content: space-between; font-weight: 600; }
.slider output { font-variant-numeric: tabular-nums; color: #0072B2; font-size: 18px; }
.slider input { width: 100%; margin-top: 6px; accent-color: #0072B2; }
.slider small { color: #666; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid #ddd; border-radius: 8px; }
th { text-align: left; font-weight: normal; color: #444; padding: 5px 10px; font-size: 14px; }
td { text-align: right; padding: 5px 10px; font-variant-numeric: tabular-nums; font-weight: 600; }
tr.key td { color: #009E73; }
.read { font-size: 14px; line-height: 1.45; color: #333; }
.read b { color: #111; }
code { background: #eee; border-radius: 3px; padding: 0 3px; font-size: 12px; }
svg { background: #fff; border: 1px solid #ddd; border-radius: 8px; display: block; margin-bottom: 14px; }
svg text { font-size: 12px; fill: #444; }
svg .title { font-size: 13px; font-weight: 600; fill: #222; }
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p class="provenance">{header}</p>
</header>
<main>
<section class="controls">
<div class="slider">
<label for="theta">weight θ <output id="theta-value">{theta0}</output></label>
<input type="range" id="theta" min="0" max="{theta_max}" step="1" value="{i0}">
<small>the mean action is μ = θ s, with the state s = {state}</small>
</div>
<div class="slider">
<label for="sigma">noise σ <output id="sigma-value">{sigma0}</output></label>
<input type="range" id="sigma" min="0" max="{sigma_max}" step="1" value="{j0}">
<small>the policy draws actions a ~ N(μ, σ²)</small>
</div>
<table>
{table}
</table>
<div class="read">
<p><b>Move θ.</b> The density π(a) slides along the action axis; the score ψ(a) = ∂ log π/∂θ is a straight
line through μ. Their product with the reward, π ψ r, is what the slope integrates: the shaded area (green
above zero, red below) is exactly dJ/dθ.</p>
<p><b>Move σ.</b> A narrower policy has a taller density and a steeper score (its slope is s/σ²): one
sample's vote r ψ can be larger, though the samples also land closer to μ. Watch the variance V of one vote
and the width of the band.</p>
<p><b>Bottom.</b> The running average of r(a) ψ(a) over the first n of {n} samples drawn from π. It wanders at
first, then settles into the grey band, the exact slope ± 2 standard errors √(V/n). The same random numbers
are used for every θ and σ.</p>
</div>
</section>
<section class="plots">
<svg id="curves" width="800" height="546" role="img" aria-label="density, reward, score and their product"></svg>
<svg id="running" width="800" height="266" role="img" aria-label="running estimate against the number of samples">
</svg>
</section>
</main>
<script type="application/json" id="pgjax-data">{payload}</script>
<script>{script}</script>
</body>
</html>
"""

_SCRIPT = r"""
"use strict";
const D = JSON.parse(document.getElementById("pgjax-data").textContent);
const SVGNS = "http://www.w3.org/2000/svg";
const COLORS = {density: "#555555", reward: "#D55E00", score: "#0072B2", product: "#009E73", negative: "#D55E00",
                running: "#0072B2"};
const LEFT = 62, RIGHT = 30;

function node(tag, attrs, parent, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}
function linear(d0, d1, r0, r1) { const k = (r1 - r0) / (d1 - d0); return v => r0 + (v - d0) * k; }
function ticks(lo, hi, count) {
  const raw = (hi - lo) / count, mag = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / mag;
  const step = mag * (f >= 7.5 ? 10 : f >= 3.5 ? 5 : f >= 1.5 ? 2 : 1), out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) out.push(Math.abs(v) < 1e-9 * step ? 0 : v);
  return out;
}
function label(v) { return Number(v.toPrecision(4)).toLocaleString("en-US", {maximumFractionDigits: 6}); }
function pathOf(xs, ys, sx, sy) {
  let d = "";
  for (let k = 0; k < xs.length; k++) {
    const y = Math.max(-1e4, Math.min(1e4, sy(ys[k])));
    d += (k ? "L" : "M") + sx(xs[k]).toFixed(1) + "," + y.toFixed(1);
  }
  return d;
}

function panel(svg, p) {
  // p: top, height, title, xs, ys, y (domain), sx, xDomain, color, id, fill, xAxis, log, mu, band, exact
  const width = +svg.getAttribute("width"), x0 = LEFT, x1 = width - RIGHT;
  const y0 = p.top + p.height, y1 = p.top;
  const sx = p.sx, sy = linear(p.y[0], p.y[1], y0, y1);
  const clip = "clip-" + p.id;
  const cp = node("clipPath", {id: clip}, svg);
  node("rect", {x: x0, y: y1, width: x1 - x0, height: p.height}, cp);
  node("rect", {x: x0, y: y1, width: x1 - x0, height: p.height, fill: "#fcfcfc", stroke: "#ccc"}, svg);
  for (const t of ticks(p.y[0], p.y[1], 3)) {
    node("line", {x1: x0, x2: x1, y1: sy(t), y2: sy(t), stroke: t === 0 ? "#999" : "#eee"}, svg);
    node("text", {x: x0 - 6, y: sy(t) + 4, "text-anchor": "end"}, svg, label(t));
  }
  for (const t of p.xTicks) {
    node("line", {x1: sx(t), x2: sx(t), y1: y0, y2: y1, stroke: "#f0f0f0"}, svg);
    if (p.xAxis) node("text", {x: sx(t), y: y0 + 16, "text-anchor": "middle"}, svg, p.log ? label(Math.pow(10, t)) : label(t));
  }
  const g = node("g", {"clip-path": "url(#" + clip + ")"}, svg);
  if (p.band) node("path", {d: p.band(sy), fill: "#000", "fill-opacity": 0.09, stroke: "none"}, g);
  if (p.fill) {
    const zero = sy(0);
    for (const [sign, color] of [[1, COLORS.product], [-1, COLORS.negative]]) {
      const part = p.ys.map(v => (sign * v > 0 ? v : 0));
      const d = pathOf(p.xs, part, sx, sy) + "L" + sx(p.xs[p.xs.length - 1]).toFixed(1) + "," + zero.toFixed(1) +
                "L" + sx(p.xs[0]).toFixed(1) + "," + zero.toFixed(1) + "Z";
      node("path", {d: d, fill: color, "fill-opacity": 0.25, stroke: "none"}, g);
    }
  }
  if (p.exact !== undefined)
    node("line", {x1: x0, x2: x1, y1: sy(p.exact), y2: sy(p.exact), stroke: "#222", "stroke-dasharray": "6 4"}, g);
  if (p.mu !== undefined)
    node("line", {x1: sx(p.mu), x2: sx(p.mu), y1: y0, y2: y1, stroke: "#999", "stroke-dasharray": "2 3"}, g);
  node("path", {id: p.id, d: pathOf(p.xs, p.ys, sx, sy), fill: "none", stroke: p.color, "stroke-width": 2}, g);
  node("text", {x: x0, y: y1 - 6, class: "title"}, svg, p.title);
}

function draw() {
  const i = +document.getElementById("theta").value, j = +document.getElementById("sigma").value;
  const c = D.cells[i][j];
  for (const [key, value] of Object.entries(c.text)) {
    const e = document.getElementById(key);
    if (e) e.textContent = value;
  }
  const curves = document.getElementById("curves");
  curves.replaceChildren();
  const width = +curves.getAttribute("width");
  const xs = D.actions, xd = [xs[0], xs[xs.length - 1]];
  const sx = linear(xd[0], xd[1], LEFT, width - RIGHT), xTicks = ticks(xd[0], xd[1], 8);
  const p = 1.15 * Math.max(1e-300, ...c.product.map(Math.abs));
  const specs = [
    {id: "density-path", title: "density π(a)", ys: c.density, y: D.scales.density, color: COLORS.density},
    {id: "reward-path", title: D.labels.reward, ys: D.reward, y: D.scales.reward, color: COLORS.reward},
    {id: "score-path", title: "score ψ(a) = (a − μ) s / σ²", ys: c.score, y: D.scales.score, color: COLORS.score},
    {id: "product-path", title: "π ψ r: its area is the slope dJ/dθ = " + c.text["grad-theta"] +
     "   (vertical scale follows the curve)", ys: c.product, y: [-p, p], color: COLORS.product, fill: true, xAxis: true},
  ];
  specs.forEach((s, k) => panel(curves, Object.assign(s, {top: 26 + k * 124, height: 96, xs: xs, sx: sx,
    xTicks: xTicks, mu: c.mu})));
  node("text", {x: (LEFT + width - RIGHT) / 2, y: 534, "text-anchor": "middle"}, curves, "action a   (dotted line: μ)");

  const running = document.getElementById("running");
  running.replaceChildren();
  const lx = D.ns.map(n => Math.log10(n)), ld = [0, lx[lx.length - 1]];
  const rsx = linear(ld[0], ld[1], LEFT, width - RIGHT);
  const half = 2.5 * c.sd / Math.sqrt(10);
  const band = sy => {
    const up = D.ns.map(n => c.grad + 2 * c.sd / Math.sqrt(n)), down = D.ns.map(n => c.grad - 2 * c.sd / Math.sqrt(n));
    return pathOf(lx, up, rsx, sy) + "L" + pathOf(lx.slice().reverse(), down.slice().reverse(), rsx, sy).slice(1) + "Z";
  };
  const lTicks = [];
  for (let t = 0; t <= ld[1] + 1e-9; t++) lTicks.push(t);
  panel(running, {id: "running-path", title: "running estimate of dJ/dθ (dashed: exact " + c.text["grad-theta"] +
    "; band: ± 2 √(V/n))", xs: lx, ys: c.running, y: [c.grad - half, c.grad + half], color: COLORS.running, top: 28,
    height: 190, sx: rsx, xTicks: lTicks, xAxis: true, log: true, band: band, exact: c.grad});
  node("text", {x: (LEFT + width - RIGHT) / 2, y: 256, "text-anchor": "middle"}, running,
       "number of samples n (log scale)");
}

document.getElementById("theta").addEventListener("input", draw);
document.getElementById("sigma").addEventListener("input", draw);
draw();
"""
