"""Runs a small sweep in a fresh process and saves its estimates: used by tests/engine/test_scaling.py, which
needs JAX started with several CPU devices, or several processes talking over localhost.

    python tests/engine/sweep_worker.py OUT.npz [--devices D] [--chunk C] [--coordinator HOST:PORT --nproc N --pid I]
"""

from __future__ import annotations

import argparse

import numpy as np

SETTINGS = dict(state=[1.0, 0.5], theta=[0.2, -0.3], sigma=1.0, state_std=0.3, reward="gaussian_bump")
ESTIMATORS = ("reinforce", "leave_one_out", "optimal_baseline_batch", "pathwise")
NS = (1, 3, 64)
N_SEEDS = 203
#: Samples per micro-batch: n = 64 is past it, so its estimates are sub-batched (32 blocks of 2 samples per seed,
#: pgjax.estimators.base.estimate) and the chunk, device and process checks cover that path. (With 1, every n has
#: one seed per call, and REINFORCE at n = 1 differs in the last bit between 1 device and 4: the one-device
#: shard_map of README's "GPUs, several devices" section, not sub-batching.)
MICRO_BATCH_ELEMENTS = 16


def sweep(devices=None, chunk_size=None):
    from pgjax.engine import run_sweep
    from pgjax.estimators import make_estimator
    from pgjax.problems import LinearGaussianBandit

    problem = LinearGaussianBandit.build(**SETTINGS)
    estimators = {name: make_estimator(name) for name in ESTIMATORS}
    return run_sweep(
        problem,
        problem.init_params(),
        estimators,
        NS,
        N_SEEDS,
        seed=7,
        chunk_size=chunk_size,
        devices=devices,
        micro_batch_elements=MICRO_BATCH_ELEMENTS,
        fuse=True,  # one program per micro-batch group, as the variance-against-n runs compile: 3, not 12
    )


def flatten(result) -> dict[str, np.ndarray]:
    return {f"{name}|{n}": arr for name, per_n in result.estimates.items() for n, arr in per_n.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--devices", type=int, default=None)
    parser.add_argument("--chunk", type=int, default=None)
    parser.add_argument("--coordinator", default=None)
    parser.add_argument("--nproc", type=int, default=1)
    parser.add_argument("--pid", type=int, default=0)
    args = parser.parse_args()
    import jax

    if args.coordinator:
        jax.distributed.initialize(coordinator_address=args.coordinator, num_processes=args.nproc, process_id=args.pid)
    result = sweep(devices=args.devices, chunk_size=args.chunk)
    np.savez(args.out, **flatten(result), execution=np.array(repr(result.execution)))
