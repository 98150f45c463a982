"""Every registered estimator on every problem it supports, through :func:`pgjax.engine.run_sweep` (the path
``pgjax run`` takes), on 1 and on 4 devices: run by tests/estimators/test_estimator_matrix.py in a fresh process started
with 4 CPU devices (``JAX_NUM_CPU_DEVICES=4``, which must be set before jax starts).

    python tests/estimators/estimator_matrix.py OUT.npz --group {gaussian,other}

The cases are built from the registries, so a newly registered estimator is covered without editing this
file: :data:`pgjax.estimators.ESTIMATORS` and :data:`~pgjax.estimators.GAUSSIAN_ESTIMATORS` on the bandit and
on the Gaussian test functions (each function; between them the sigma and log-sigma parameterisations and
antithetic sampling), through the experiments' own ``build`` (their config checks included); ``ESTIMATORS``
on the softmax bandit; :data:`~pgjax.estimators.GROUP_ESTIMATORS` on the success bandit; the estimators that need
finitely many outcomes (sampling without replacement) on the Bernoulli vectors;
:data:`~pgjax.estimators.TRAJECTORY_ESTIMATORS` on LQR through lqr-variance's ``build_estimators``; lqr-pgpe's
estimators on parameter-exploring LQR; every learning signal (:data:`pgjax.estimators.episodic.SIGNALS`) on
CartPole; the estimators that need state- or action-dependent baselines (:func:`baseline_estimators`) on the
target-matching task; the KL estimators (:data:`~pgjax.estimators.KL_ESTIMATOR_CLASSES`, one output column) on a
pair of categorical policies.

Each case is one fused program (``run_sweep(..., fuse=True)``: its members are called exactly as
separate estimators are, with the same key, inside the same sharded program: compiling one program per
estimator would take minutes on a CPU), run on a 1-device and on a 4-device mesh. Sizes are tiny: the point is
that every estimator traces, compiles and runs sharded, with finite estimates, and gives the same bits on 1
and 4 devices (the engine's promise).
"""

from __future__ import annotations

import argparse

import numpy as np

#: Samples per estimate: even (antithetic and PGPE pairs), >= 2 (leave-one-out), >= 5 (the delta-method
#: control variates estimate their coefficient).
N = 6
#: Seeds per estimator: on 4 devices two calls of 4 micro-batches of 2 seeds, the last call padded.
N_SEEDS = 10
#: Samples per micro-batch: micro-batches of 2 seeds, the same for every device count.
MICRO_BATCH_ELEMENTS = 2 * N
SEED = 5
DEVICES = (1, 4)


def gaussian_cases():
    """{case name: (problem, params, {estimator name: estimator}, reference gradient or None)}: every estimator
    on the bandit and on each Gaussian test function, as bandit-variance and test-function-variance build them."""
    from pgjax.estimators import ALL_ESTIMATORS
    from pgjax.experiments import bandit_variance, test_function_variance, variance_vs_n
    from pgjax.problems.gaussian_test_functions import FUNCTIONS

    everything = tuple(ALL_ESTIMATORS)
    sizes = dict(ns=(N,), n_seeds=N_SEEDS)
    out = {}
    config = bandit_variance.Config(estimators=everything, reward="gaussian_bump", state_std=0.5, **sizes)
    out["bandit"] = (*variance_vs_n.build(config), None)
    variants = {"quadratic": {}, "exp": dict(scale="log_sigma", antithetic=True), "cos": {}}
    for function in FUNCTIONS:
        config = test_function_variance.Config(
            function=function, estimators=everything, **variants.get(function, {}), **sizes
        )
        out[f"test-function-{function}"] = (*variance_vs_n.build(config), None)
    return out


def baseline_estimators(problem) -> dict:
    """name -> class of the registered estimators that need exact state- or action-dependent baselines
    (StateBaselines, FactorisedActions) and run on ``problem``: the ones no other case covers."""
    from pgjax.estimators import available_on
    from pgjax.problems.base import FactorisedActions, StateBaselines

    needs = {StateBaselines, FactorisedActions}
    return {name: cls for name, cls in available_on(problem).items() if needs & set(cls.requires)}


def baseline_problems() -> dict:
    """A small problem with exact state- and action-dependent baselines, case name -> problem: the
    target-matching task has both capabilities, so every such estimator runs on it (one compiled program; the
    contextual bandit's are run through the engine by tests/estimators/test_state_baselines.py)."""
    from pgjax.problems import TargetMatching

    return {"target-matching": TargetMatching(dim=3)}


def other_cases():
    """The same for the softmax bandit, the Bernoulli vectors, LQR (as lqr-variance builds its estimators),
    parameter-exploring LQR (lqr-pgpe), CartPole (every learning signal, with a critic) and the problems with
    exact state- and action-dependent baselines."""
    import jax

    from pgjax.envs import make_environment
    from pgjax.estimators import ESTIMATORS, GROUP_ESTIMATORS, TRAJECTORY_ESTIMATORS
    from pgjax.estimators.base import with_requirements
    from pgjax.estimators.episodic import SIGNALS, Episodic
    from pgjax.estimators.kl import KL_ESTIMATOR_CLASSES
    from pgjax.experiments import lqr_pgpe, lqr_variance, variance_vs_n
    from pgjax.policies import Critic, make_policy
    from pgjax.problems import BernoulliVector, SoftmaxBandit, SuccessBandit
    from pgjax.problems.base import FiniteOutcomes
    from pgjax.problems.environment import EnvironmentProblem, FrozenTree
    from pgjax.problems.kl_pair import KLPair
    from pgjax.tree_util import ravel

    sizes = dict(ns=(N,), n_seeds=N_SEEDS)
    out = {}
    softmax = SoftmaxBandit()
    out["softmax-bandit"] = (softmax, softmax.init_params(), {name: cls() for name, cls in ESTIMATORS.items()}, None)
    # the estimators that need enumerable outcomes, on 2^3 Bernoulli vectors (N samples without replacement need
    # at least N outcomes; the softmax bandit has 3)
    bernoulli = BernoulliVector(logits0=(0.3, -1.0, 2.0))
    finite = {name: cls() for name, cls in with_requirements(FiniteOutcomes).items()}
    out["bernoulli"] = (bernoulli, bernoulli.init_params(), finite, None)
    success = SuccessBandit.build(correct=[[1, 0, 1], [0, 1, 0]], logits=[[0.2, -0.1, 0.3], [0.5, 0.0, -0.4]])
    groups = {name: cls() for name, cls in GROUP_ESTIMATORS.items()}
    out["success-bandit"] = (success, success.init_params(), groups, None)

    lqr_system = dict(system="scalar", horizon=2, gain=(-0.5,), x0=(1.0,))  # small, with every noise source
    config = lqr_variance.Config(**lqr_system, **sizes)
    lqr = variance_vs_n.lqr_problem(config)
    params = lqr.init_params()
    estimators = variance_vs_n.lqr_estimators(tuple(TRAJECTORY_ESTIMATORS), lqr, params, n_pilot=4)
    out["lqr"] = (lqr, params, estimators, None)
    config = lqr_pgpe.Config(**lqr_system, sigma_k=(0.2,), **sizes)
    pgpe = lqr_pgpe.problem(config)
    out["lqr-pgpe"] = (pgpe, pgpe.init_params(), {name: cls() for name, cls in lqr_pgpe.ESTIMATORS.items()}, None)

    env = make_environment("cartpole")
    policy = make_policy("linear-softmax", env)
    critic = Critic(hidden=(4,))
    cartpole = EnvironmentProblem(
        env, policy, 4, 0.99, critic=critic, critic_params=FrozenTree(critic.init(jax.random.key(1), 5))
    )
    params = cartpole.init_params()
    zeros = np.zeros(ravel(params).shape[0])
    out["cartpole"] = (cartpole, params, {signal: Episodic(signal) for signal in SIGNALS}, zeros)
    for case, problem in baseline_problems().items():
        estimators = {name: cls() for name, cls in baseline_estimators(problem).items()}
        out[case] = (problem, problem.init_params(), estimators, None)
    # the KL estimators (one output column, "kl": OUTPUT_NAMES) on a pair of categorical policies
    pair = KLPair.build(logits=(0.3, -1.0, 2.0), reference_logits=(0.0, 0.5, 1.0))
    params = pair.init_params()
    kl = {name: cls() for name, cls in KL_ESTIMATOR_CLASSES.items()}
    out["kl-pair"] = (pair, params, kl, np.array([float(pair.exact_kl(params))]))
    return out


#: Cases whose estimators do not return a gradient: the names of their output columns (run_sweep's output_names).
OUTPUT_NAMES = {"kl-pair": ("kl",)}


#: Cases run on 4 devices only: each Gaussian test function runs the same estimators as the bandit (whose 1- and
#: 4-device estimates are compared) under another parameterisation; on 4 devices they still show that every
#: estimator traces, compiles and runs sharded there, with finite estimates. Compiling their 1-device programs
#: as well cost about 20 s of the suite's time budget.
FOUR_DEVICES_ONLY = frozenset({"test-function-quadratic", "test-function-exp", "test-function-cos"})

#: The cases in two groups of similar cost, one process each (so that pytest-xdist can run them side by side).
GROUPS = {"gaussian": gaussian_cases, "other": other_cases}


def sweep_all(group: str) -> dict[str, np.ndarray]:
    """``{"devices|case|estimator": (N_SEEDS, P) estimates}`` for every case of ``group`` and device count."""
    from pgjax.engine import run_sweep

    out = {}
    for case, (problem, params, estimators, reference) in GROUPS[group]().items():
        for devices in DEVICES if case not in FOUR_DEVICES_ONLY else (4,):
            sweep = run_sweep(
                problem,
                params,
                estimators,
                (N,),
                N_SEEDS,
                seed=SEED,
                devices=devices,
                micro_batch_elements=MICRO_BATCH_ELEMENTS,
                reference_gradient=reference,
                fuse=True,
                output_names=OUTPUT_NAMES.get(case),
            )
            assert sweep.execution["devices"] == devices
            for name in estimators:
                out[f"{devices}|{case}|{name}"] = sweep.estimates[name][N]
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--group", choices=list(GROUPS), required=True)
    args = parser.parse_args()
    np.savez(args.out, **sweep_all(args.group))
