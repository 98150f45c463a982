"""pgjax's benchmarks, each printing its ratios against baselines measured in the same run.

- :mod:`pgjax.bench.score`: the score-function estimator on the bandit against its RNG limit and NumPy
  (``pgjax bench``, ``python -m pgjax.bench``);
- :mod:`pgjax.bench.scaling`: devices, memory budget and compilation cache (``pgjax bench-scaling``);
- :mod:`pgjax.bench.lqr`: LQR rollouts with reward-to-go against NumPy (``pgjax bench-lqr``);
- :mod:`pgjax.bench.envs`: CartPole rollouts and gradients against gymnax (``pgjax bench-envs``);
- :mod:`pgjax.bench.all`: every benchmark and a short run of each default experiment, within a time budget,
  with a comparison against another device's run (``pgjax bench --all``);
- :mod:`pgjax.bench.report`: what they share (machine facts, rates, atomic report writing).
"""
