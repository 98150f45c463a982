"""Variance of gradient estimates against the sample size n on the Gaussian test functions of Mohamed et al.
(2020), for every estimator, with a cost-adjusted view.

variance-vs-n on the test-function family with its defaults (:mod:`pgjax.experiments.variance_vs_n`): the
bandit-variance layout (R seeds x a grid of n, every estimator, the standard table and figures) on
E_{x ~ N(mu, diag(sigma^2))}[sum_d g(x_d; k)], with the score-function family, pathwise, measure-valued
(coupled and not) and the delta-method control variates (coefficient 1 or estimated). Because the estimators
do not cost the same, the table adds ``evals_per_sample`` and ``work_var = var x n x evals_per_sample`` (the
variance of an estimate times the evaluations of f it cost; flat in n for an i.i.d. estimator), and
``cost.png`` plots work_var against n.

Accounting of evaluations of f per sample: 1 for the score-function estimators and pathwise (pathwise also
differentiates f), 4 D for measure-valued with coupling and 3 D + 1 without (2 per parameter coordinate; the
uncoupled scale shares its negative part, the base sample), 1 + (2 + D) / n for the delta-method control
variates (f, its gradient and D Hessian-vector products at the mean, once per estimate, each counted as one
evaluation).

With ``--antithetic`` the samples come in antithetic pairs (eps, -eps) (:class:`pgjax.problems.Antithetic`);
every n must then be even, and exact variances are not reported (the pairs are not independent).
"""

from __future__ import annotations

from pgjax.experiment import ExperimentResult
from pgjax.experiments import variance_vs_n

NAME = "test-function-variance"

#: The test-function family's config of variance-vs-n; its defaults are this experiment's.
Config = variance_vs_n.TestFunctionConfig


def run(config: Config = Config(), *, progress=None, execution: dict | None = None) -> ExperimentResult:
    """variance-vs-n on a test function (:func:`pgjax.experiments.variance_vs_n.run_family`), with the
    ``evals_per_sample`` and ``work_var`` columns; nothing is written. ``execution``: run_sweep keywords saying
    how to run, as ``pgjax run`` passes them."""
    return variance_vs_n.run_family(config, experiment=NAME, progress=progress, execution=execution)


#: The hooks `pgjax run`, `pgjax plot` and `pgjax table` use instead of pgjax's defaults (see pgjax.experiment.Hooks):
#: the standard figures and ``cost.png``.
HOOKS = variance_vs_n.family_hooks("test-function")
