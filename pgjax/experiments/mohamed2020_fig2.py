"""Mohamed et al. (2020), Figure 2: variance of single-sample gradient estimates of E_{N(x|mu, sigma^2)}[(x - k)^2]
with respect to mu and sigma (mu = sigma = 1) against k in [-3, 3]; exact curves and Monte Carlo points.

``pgjax run mohamed2020-fig2`` writes ``results/mohamed2020-fig2/`` (``figure2.png``/``.pdf``, tables). The
implementation is shared with Figure 3 in :mod:`pgjax.experiments.mohamed2020`.
"""

from __future__ import annotations

import dataclasses

from pgjax.experiment import Hooks
from pgjax.experiments import mohamed2020

NAME = "mohamed2020-fig2"


@dataclasses.dataclass(frozen=True)
class Config(mohamed2020.Config):
    """Mohamed et al. (2020) Figure 2: variance of the score-function, optimal-baseline, pathwise and coupled
    measure-valued gradients of E[(x - k)^2], x ~ N(1, 1), against k; exact curves and Monte Carlo points."""

    functions: tuple[str, ...] = ("quadratic",)
    """Test functions (quadratic = (x-k)^2, exp = exp(-k x^2), cos = cos(k x)), each over the paper's k range."""


def run(config: Config = Config(), *, progress=None, execution: dict | None = None) -> mohamed2020.Result:
    """Runs the experiment (nothing is written; see :func:`save`). ``execution``: run_sweep keywords saying how
    to run (devices, max_memory_bytes, store), as ``pgjax run`` passes them."""
    return mohamed2020.run_figure(config, name=NAME, figure="figure2", progress=progress, execution=execution)


total_work = mohamed2020.total_work
save = mohamed2020.save
draw = mohamed2020.draw


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks).
HOOKS = Hooks(total_work=total_work, save=save, draw=draw)
