"""Statistics of estimates, on numbers only (never on problems or estimators).

- :mod:`pgjax.analysis.stats`: the table's statistics and intervals (bias, variance, MSE, paired variance
  ratios, kurtosis, the interval methods).
- :mod:`pgjax.analysis.bootstrap`: bootstrap intervals of training curves and of the interval methods.
"""
