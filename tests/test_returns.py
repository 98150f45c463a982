"""pgjax.returns against naive Python loops: discount factors, reverse sums, returns-to-go, TD residuals,
GAE with done masks and bootstrap values; vmap over trajectories; chex checks of the inputs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.returns import (
    discounted_reverse_cumsum,
    discounts,
    gae_advantages,
    returns_to_go,
    reverse_cumsum_matrix,
    td_residuals,
    time_major,
)

H, N = 9, 5
DISCOUNTS = (0.0, 0.5, 0.97, 1.0)
LAMBDAS = (0.0, 0.7, 1.0)
TOL = dict(rtol=1e-5, atol=1e-5)


def _batch(seed: int):
    """Time-major rewards, values, alive (H, N) float32 with terminations at different steps (one episode
    never terminates, one terminates after step 0) and a bootstrap value (N,)."""
    rng = np.random.default_rng(seed)
    alive = np.ones((H, N), np.float32)
    for i, end in enumerate((H, 1, 4, 7, H - 1)):
        alive[end:, i] = 0.0
    rewards = (rng.normal(size=(H, N)) * alive).astype(np.float32)
    values = rng.normal(size=(H, N)).astype(np.float32)
    bootstrap = rng.normal(size=N).astype(np.float32)
    return rewards, values, alive, bootstrap


# ---------------------------------------------------------------------------------------- loop references
def _loop_reverse_sum(x, factor):
    y = np.zeros_like(x, np.float64)
    for i in range(x.shape[1]):
        acc = 0.0
        for t in reversed(range(x.shape[0])):
            acc = float(x[t, i]) + factor * acc
            y[t, i] = acc
    return y


def _loop_residuals(r, v, gamma, alive=None, bootstrap=None):
    delta = np.zeros_like(r, np.float64)
    for i in range(r.shape[1]):
        for t in range(r.shape[0]):
            a_t = 1.0 if alive is None else float(alive[t, i])
            if t + 1 < r.shape[0]:
                a_next = 1.0 if alive is None else float(alive[t + 1, i])
                v_next = a_next * float(v[t + 1, i])
            else:
                v_next = 0.0 if bootstrap is None else float(bootstrap[i])
            delta[t, i] = a_t * (float(r[t, i]) + gamma * v_next - a_t * float(v[t, i]))
    return delta


def _loop_gae(r, v, gamma, lam, alive=None, bootstrap=None):
    delta = _loop_residuals(r, v, gamma, alive, bootstrap)
    adv = np.zeros_like(delta)
    for i in range(r.shape[1]):
        acc = 0.0
        for t in reversed(range(r.shape[0])):
            acc = delta[t, i] + gamma * lam * acc
            adv[t, i] = acc
    return adv


# ------------------------------------------------------------------------------------------------- values
@pytest.mark.parametrize("gamma", DISCOUNTS)
def test_discounts_match_powers(gamma):
    expected = np.array([gamma**t for t in range(H)])
    for on_host in (False, True):
        d = discounts(H, gamma, jnp.float32, on_host=on_host)
        assert d.shape == (H,) and d.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(d), expected, **TOL)
    assert float(discounts(H, gamma)[0]) == 1.0


@pytest.mark.parametrize("factor", DISCOUNTS)
def test_reverse_cumsum_matrix_and_sum_match_loop(factor):
    W = np.asarray(reverse_cumsum_matrix(H, factor, jnp.float32))
    assert W.dtype == np.float32
    for t in range(H):
        for s in range(H):
            assert W[t, s] == np.float32(factor ** (s - t) if s >= t else 0.0)
    x = np.random.default_rng(1).normal(size=(H, N)).astype(np.float32)
    y = discounted_reverse_cumsum(jnp.asarray(x), factor)
    assert y.shape == (H, N) and y.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(y), _loop_reverse_sum(x, factor), **TOL)


@pytest.mark.parametrize("gamma", DISCOUNTS)
def test_returns_to_go_match_loop(gamma):
    rewards, _, _, _ = _batch(2)
    G = np.asarray(returns_to_go(jnp.asarray(rewards), gamma))
    np.testing.assert_allclose(G, _loop_reverse_sum(rewards, gamma), **TOL)
    # G_0 is the discounted return
    np.testing.assert_allclose(G[0], (np.array([gamma**t for t in range(H)])[:, None] * rewards).sum(0), **TOL)


@pytest.mark.parametrize("gamma", DISCOUNTS)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("bootstrapped", [False, True])
def test_td_residuals_match_loop(gamma, masked, bootstrapped):
    rewards, values, alive, bootstrap = _batch(3)
    a = alive if masked else None
    b = bootstrap if bootstrapped else None
    delta = td_residuals(
        jnp.asarray(rewards),
        jnp.asarray(values),
        gamma,
        None if a is None else jnp.asarray(a),
        None if b is None else jnp.asarray(b),
    )
    np.testing.assert_allclose(np.asarray(delta), _loop_residuals(rewards, values, gamma, a, b), **TOL)
    if masked:
        assert np.all(np.asarray(delta)[alive == 0] == 0.0)


@pytest.mark.parametrize("gamma", DISCOUNTS)
@pytest.mark.parametrize("lam", LAMBDAS)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("bootstrapped", [False, True])
def test_gae_matches_loop(gamma, lam, masked, bootstrapped):
    rewards, values, alive, bootstrap = _batch(4)
    a = alive if masked else None
    b = bootstrap if bootstrapped else None
    adv = gae_advantages(
        jnp.asarray(rewards),
        None if a is None else jnp.asarray(a),
        jnp.asarray(values),
        gamma,
        lam,
        None if b is None else jnp.asarray(b),
    )
    assert adv.shape == (H, N)
    np.testing.assert_allclose(np.asarray(adv), _loop_gae(rewards, values, gamma, lam, a, b), **TOL)


@pytest.mark.parametrize("gamma", DISCOUNTS)
def test_gae_limits(gamma):
    """lambda = 1: G_t + gamma^(H-t) V_H - V_t; lambda = 0: the one-step residual (masked)."""
    rewards, values, alive, bootstrap = _batch(5)
    r, v, m, b = map(jnp.asarray, (rewards, values, alive, bootstrap))
    G = _loop_reverse_sum(rewards, gamma)
    tail = np.array([gamma ** (H - t) for t in range(H)])[:, None] * bootstrap[None]
    np.testing.assert_allclose(np.asarray(gae_advantages(r, None, v, gamma, 1.0, b)), G + tail - values, **TOL)
    np.testing.assert_allclose(
        np.asarray(gae_advantages(r, m, v, gamma, 0.0)), np.asarray(td_residuals(r, v, gamma, m)), **TOL
    )


# -------------------------------------------------------------------------------------------------- vmap
@pytest.mark.parametrize("gamma, lam", [(0.0, 0.0), (0.9, 0.7), (1.0, 1.0)])
def test_vmap_over_trajectories_equals_loop_over_trajectories(gamma, lam):
    rewards, values, alive, bootstrap = map(jnp.asarray, _batch(6))
    cases = {
        "reverse_sum": (lambda r, v, m, b: discounted_reverse_cumsum(r, gamma * lam)),
        "returns_to_go": (lambda r, v, m, b: returns_to_go(r, gamma)),
        "td_residuals": (lambda r, v, m, b: td_residuals(r, v, gamma, m, b)),
        "gae": (lambda r, v, m, b: gae_advantages(r, m, v, gamma, lam, b)),
        "gae_unmasked": (lambda r, v, m, b: gae_advantages(r, None, v, gamma, lam)),
    }
    for name, f in cases.items():
        batched = jax.vmap(f, in_axes=(1, 1, 1, 0), out_axes=1)(rewards, values, alive, bootstrap)
        looped = jnp.stack([f(rewards[:, i], values[:, i], alive[:, i], bootstrap[i]) for i in range(N)], axis=1)
        time_major_batch = f(rewards, values, alive, bootstrap)
        assert batched.shape == looped.shape == (H, N), name
        np.testing.assert_allclose(np.asarray(batched), np.asarray(looped), rtol=1e-6, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(np.asarray(time_major_batch), np.asarray(looped), **TOL, err_msg=name)


def test_time_major_swaps_batch_and_time():
    x = jnp.arange(N * H * 3, dtype=jnp.float32).reshape(N, H, 3)
    y = time_major(x)
    assert y.shape == (H, N, 3)
    for i in range(N):
        for t in range(H):
            np.testing.assert_array_equal(np.asarray(y[t, i]), np.asarray(x[i, t]))


# ------------------------------------------------------------------------------------------- chex checks
def test_wrong_rank_raises():
    r3 = jnp.zeros((H, N, 2))
    scalar = jnp.zeros(())
    with pytest.raises(AssertionError, match=r"\[Chex\] Assertion assert_rank"):
        discounted_reverse_cumsum(r3, 0.9)
    with pytest.raises(AssertionError, match=r"\[Chex\] Assertion assert_rank"):
        returns_to_go(scalar, 0.9)
    with pytest.raises(AssertionError, match=r"\[Chex\] Assertion assert_rank"):
        td_residuals(r3, r3, 0.9)
    with pytest.raises(AssertionError, match=r"\[Chex\] Assertion assert_rank"):
        gae_advantages(r3, None, r3, 0.9, 0.5)
    with pytest.raises(AssertionError, match=r"\[Chex\] Assertion assert_rank"):
        time_major(jnp.zeros((H,)))


def test_mismatched_shapes_and_dtypes_raise():
    r = jnp.zeros((H, N))
    with pytest.raises(AssertionError, match=r"\[Chex\] Assertion assert_equal_shape"):
        gae_advantages(r, None, jnp.zeros((H, N + 1)), 0.9, 0.5)
    with pytest.raises(AssertionError, match=r"\[Chex\] Assertion assert_equal_shape"):
        gae_advantages(r, jnp.ones((H - 1, N)), r, 0.9, 0.5)
    with pytest.raises(AssertionError, match=r"\[Chex\] Assertion assert_shape"):
        td_residuals(r, r, 0.9, bootstrap_value=jnp.zeros((N + 1,)))
    with pytest.raises(AssertionError, match=r"\[Chex\] Assertion assert_type"):
        returns_to_go(jnp.zeros((H, N), jnp.int32), 0.9)


def test_checks_hold_under_jit():
    """The chex checks read static shapes, so they work (and fire) inside jit."""
    f = jax.jit(lambda r: returns_to_go(r, 0.9))
    np.testing.assert_allclose(np.asarray(f(jnp.ones((H,)))), _loop_reverse_sum(np.ones((H, 1)), 0.9)[:, 0], **TOL)
    with pytest.raises(AssertionError, match=r"\[Chex\] Assertion assert_rank"):
        f(jnp.ones((H, N, 2)))
