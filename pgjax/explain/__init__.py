"""``pgjax explain``: the log-derivative trick, worked with numbers.

A short walkthrough for a learner, built as data and rendered as Markdown (``docs/log-derivative-trick.md``,
with a figure) or plain text, in which every number is computed by pgjax at run time:

1. the set-up: a ~ N(theta s, sigma^2), a reward r(a), the exact J and dJ/dtheta;
2. why averaging dpi/dtheta r over actions drawn from pi is wrong, and by exactly how much;
3. multiplying and dividing by pi: the ratio dpi/dtheta / pi, by finite differences, equals the score
   d log pi / d theta = (a - mu) s / sigma^2, sample by sample;
4. convergence of the score-function estimate with n, over many seeds at once (``pgjax.engine.run_sweep``);
5. no derivative of r needed (an all-or-nothing reward) and discrete actions (a softmax bandit);
6. the price: variance, with and without baselines, against the pathwise estimator, with a figure;
7. learning sigma too: the log sigma score eps^2 - 1 (mean 0, variance 2), its slope and noise, and how sigma
   changes the noise of the theta coordinate;
8. a two-dimensional state s = (s1, s2): the gradient is s dJ/dmu, and every estimate lies along s.

``pgjax explain --html OUT`` writes an interactive page instead: sliders over a grid of (theta, sigma).

Modules: :mod:`~pgjax.explain.numbers` computes, :mod:`~pgjax.explain.walkthrough` writes the words,
:mod:`~pgjax.explain.document` renders, :mod:`~pgjax.explain.figure` draws, :mod:`~pgjax.explain.command` is
the command line (``main(argv) -> int``); :mod:`~pgjax.explain.explorer` computes the page's grid and
:mod:`~pgjax.explain.page` writes the page.
"""

from pgjax.explain.command import Options, build, main, parse, regenerate_command, write

__all__ = ["Options", "build", "main", "parse", "regenerate_command", "write"]
