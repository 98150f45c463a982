"""Paper-style figures, drawn from saved results tables only, organised by the kind of figure:

- :mod:`pgjax.plotting.variance`: variance, bias and paired variance ratio against the sample size n (the
  default figures of every variance-vs-n table, :func:`~pgjax.plotting.variance.draw_all`);
- :mod:`pgjax.plotting.settings`: the same quantities against a setting axis (the horizon H, or GAE's lambda
  with one line per critic), and the trajectory variant of the variance-vs-n figure;
- :mod:`pgjax.plotting.functions`: single-sample variance against a test function's parameter k, with the
  functions themselves (Mohamed et al. 2020, Figures 2 and 3), and cost-adjusted variance against n;
- :mod:`pgjax.plotting.training`: learning curves and probability of improvement of training runs.

Which figures a results folder gets is the experiment's choice (its ``draw`` hook, :class:`pgjax.experiment.Hooks`);
nothing here dispatches on experiment names. Styles come from :mod:`pgjax.styles`.
"""

from pgjax.plotting import functions, settings, training, variance

__all__ = ["functions", "settings", "training", "variance"]
