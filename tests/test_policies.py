"""Tests for pgjax.policies: construction and errors, log-probabilities and entropies against hand-computed
formulas (a NumPy float64 forward pass of the flax parameters), scores of the linear policies in closed form,
and the distribution of sampled actions.

Statistical tests: the sampling tests compare sample frequencies / moments with the policy's exact values by
normal-approximation z-tests with a Bonferroni split, each test's family-wise false-failure rate being
ALPHA = 1e-6 (pgjax.analysis.stats.unbiasedness_z). Keys are fixed, so a run is reproducible. Everything else is deterministic.
"""

from __future__ import annotations

import math
import statistics
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.envs import make_environment
from pgjax.errors import ConfigError
from pgjax.policies import POLICIES, CategoricalPolicy, Critic, GaussianPolicy, Policy, make_policy

ALPHA = 1e-6  # family-wise false-failure rate of each statistical test in this file
N_SAMPLES = 200_000


def z_bound(tests: int) -> float:
    """Two-sided normal quantile for ``tests`` comparisons at family-wise level ALPHA (Bonferroni)."""
    return statistics.NormalDist().inv_cdf(1.0 - ALPHA / (2.0 * tests))


def fake_environment(*, discrete: bool, n: int, obs_shape=(3,)):
    """A stand-in for an Environment with ``n`` actions (discrete) or an n-dimensional action (continuous)."""
    return types.SimpleNamespace(
        name=f"fake-{n}",
        discrete=discrete,
        num_actions=n if discrete else 0,
        action_dim=0 if discrete else n,
        obs_shape=obs_shape,
    )


def perturbed(params, seed=1, scale=0.5):
    """params + scale * N(0, 1) noise (NumPy) on every leaf, so that no policy is at its special start."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda p: jnp.asarray(p + scale * rng.standard_normal(p.shape), jnp.float32), params)


def dense(layer, h):
    """A flax Dense layer in NumPy float64."""
    out = h @ np.asarray(layer["kernel"], np.float64)
    return out + np.asarray(layer["bias"], np.float64) if "bias" in layer else out


def numpy_mlp(p, x, n_hidden, activation=np.tanh):
    """The :class:`pgjax.policies.MLP` forward pass by hand: Dense_0 .. Dense_{n_hidden - 1} with
    ``activation``, then the linear output layer Dense_{n_hidden}."""
    h = np.asarray(x, np.float64)
    for i in range(n_hidden):
        h = activation(dense(p[f"Dense_{i}"], h))
    return dense(p[f"Dense_{n_hidden}"], h)


def numpy_log_softmax(logits):
    m = logits.max(axis=-1, keepdims=True)
    return logits - m - np.log(np.exp(logits - m).sum(axis=-1, keepdims=True))


def numpy_gaussian_head(p, x, n_hidden):
    """(mean, log_sigma) of :class:`pgjax.policies.GaussianHead` by hand."""
    h = np.asarray(x, np.float64)
    for i in range(n_hidden):
        h = np.tanh(dense(p[f"Dense_{i}"], h))
    mean = dense(p["mean"], h)
    if "log_sigma_head" in p:
        log_sigma = dense(p["log_sigma_head"], h)
    else:
        log_sigma = np.broadcast_to(np.asarray(p["log_sigma"], np.float64), mean.shape)
    return mean, log_sigma


def inputs_for(environment, n, seed=0):
    return jnp.asarray(
        np.random.default_rng(seed).standard_normal((n, int(np.prod(environment.obs_shape)))), jnp.float32
    )


# ------------------------------------------------------------------------------------- construction, errors
@pytest.mark.parametrize(
    "name,env_name,kwargs,field",
    [
        ("nope", "cartpole", {}, "policy"),
        ("linear-gaussian", "cartpole", {}, "policy"),
        ("mlp-gaussian", "pong", {}, "policy"),
        ("linear-softmax", "pendulum", {}, "policy"),
        ("mlp-softmax", "mountain-car-continuous", {}, "policy"),
        ("pong-mlp", "pendulum", {}, "policy"),
        ("mlp-softmax", "cartpole", {"hidden": ()}, "hidden"),
        ("mlp-softmax", "cartpole", {"hidden": (0,)}, "hidden"),
        ("mlp-gaussian", "pendulum", {"hidden": (8, -1)}, "hidden"),
        ("mlp-gaussian", "pendulum", {"hidden": (2.5,)}, "hidden"),
        ("mlp-gaussian", "pendulum", {"hidden": "ab"}, "hidden"),
        ("linear-gaussian", "pendulum", {"init_log_sigma": float("nan")}, "init_log_sigma"),
    ],
)
def test_bad_policies_are_config_errors(name, env_name, kwargs, field):
    with pytest.raises(ConfigError) as info:
        make_policy(name, make_environment(env_name), **kwargs)
    assert info.value.field == field


def test_critic_bad_hidden_is_a_config_error():
    with pytest.raises(ConfigError) as info:
        Critic(hidden=(0,)).init(jax.random.key(0), 3)
    assert info.value.field == "hidden"


@pytest.mark.parametrize("name", POLICIES)
def test_policies_are_hashable_and_follow_the_protocol(name):
    env = make_environment("pendulum" if name.endswith("-gaussian") else "cartpole")
    a, b = make_policy(name, env), make_policy(name, env)
    assert a == b and hash(a) == hash(b) and a.name == name
    assert isinstance(a, Policy)
    assert isinstance(a, GaussianPolicy if name.endswith("-gaussian") else CategoricalPolicy)
    assert make_policy(name, env, hidden=(3,)) != a or not name.startswith("mlp-")


def test_initial_parameters():
    cart, pend, pong = (make_environment(e) for e in ("cartpole", "pendulum", "pong"))
    key = jax.random.key(0)
    # linear softmax: zero weights, the uniform policy
    lin = make_policy("linear-softmax", cart)
    p = lin.init(key, cart)
    assert p["params"]["Dense_0"]["kernel"].shape == (4, 2) and p["params"]["Dense_0"]["bias"].shape == (2,)
    assert all(np.all(np.asarray(v) == 0) for v in jax.tree.leaves(p))
    # every leaf float32, for every policy
    for name, env in (("mlp-softmax", cart), ("linear-gaussian", pend), ("mlp-gaussian", pend), ("pong-mlp", pong)):
        for sds in (False, True) if name.endswith("gaussian") else (False,):
            params = make_policy(name, env, state_dependent_sigma=sds).init(key, env)
            assert all(v.dtype == jnp.float32 for v in jax.tree.leaves(params)), (name, sds)
    # mlp softmax: near-uniform start (output weights of standard deviation 0.01 / sqrt(fan_in))
    mlp = make_policy("mlp-softmax", cart, hidden=(32, 16))
    p = mlp.init(key, cart)["params"]
    assert [p[f"Dense_{i}"]["kernel"].shape for i in range(3)] == [(4, 32), (32, 16), (16, 2)]
    assert 0 < np.abs(np.asarray(p["Dense_2"]["kernel"])).max() < 0.02
    # Gaussian: log sigma starts at init_log_sigma, as a free vector or as the bias of a zero-weight head
    g = make_policy("linear-gaussian", pend, init_log_sigma=-0.7)
    pg = g.init(key, pend)
    np.testing.assert_array_equal(np.asarray(pg["params"]["log_sigma"]), np.full((1,), -0.7, np.float32))
    gs = make_policy("mlp-gaussian", pend, hidden=(8,), state_dependent_sigma=True, init_log_sigma=-0.7)
    pgs = gs.init(key, pend)
    x = inputs_for(pend, 5)
    _, log_sigma = gs.mean_and_log_sigma(pgs, x)
    np.testing.assert_allclose(np.asarray(log_sigma), np.full((5, 1), -0.7), rtol=1e-6)
    # pong-mlp: Karpathy's 200 ReLU units on the 3600-pixel frame difference, no biases, 3 logits
    pm = make_policy("pong-mlp", pong)
    pp = pm.init(key, pong)["params"]
    assert pm.hidden == (200,) and pm.activation == "relu" and pm.frame_difference
    assert pp["Dense_0"]["kernel"].shape == (3600, 200) and pp["Dense_1"]["kernel"].shape == (200, 3)
    assert "bias" not in pp["Dense_0"] and "bias" not in pp["Dense_1"]
    # N(0, 1 / fan_in) weights: 720,000 draws (fixed key) have a standard deviation within 1% of 1 / 60
    assert abs(float(np.std(np.asarray(pp["Dense_0"]["kernel"]))) * 60.0 - 1.0) < 0.01


def test_inputs():
    cart, pong = make_environment("cartpole"), make_environment("pong")
    obs, prev = jnp.arange(4.0), jnp.ones(4)
    np.testing.assert_array_equal(np.asarray(make_policy("linear-softmax", cart).inputs(obs, prev)), np.arange(4.0))
    frame = jnp.asarray(np.random.default_rng(0).integers(0, 2, (30, 40, 3)), jnp.float32)
    last = jnp.asarray(np.random.default_rng(1).integers(0, 2, (30, 40, 3)), jnp.float32)
    x = make_policy("pong-mlp", pong).inputs(frame, last)
    assert x.shape == (3600,) and x.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(x), (np.asarray(frame) - np.asarray(last)).ravel())
    x_lin = make_policy("linear-softmax", pong).inputs(frame, last)
    np.testing.assert_array_equal(np.asarray(x_lin), np.asarray(frame).ravel())


# ------------------------------------------------------------------------------ log-probabilities by hand
CATEGORICAL_CASES = [  # (policy, environment, hidden used, numpy activation)
    ("linear-softmax", "cartpole", 0, np.tanh),
    ("mlp-softmax", "cartpole", 2, np.tanh),
    ("mlp-softmax", "fake-5", 2, np.tanh),
    ("pong-mlp", "pong", 1, lambda h: np.maximum(h, 0.0)),
]


def _env(name):
    if name.startswith("fake-"):
        return fake_environment(discrete=True, n=int(name.split("-")[1]))
    return make_environment(name)


@pytest.mark.parametrize("name,env_name,n_hidden,activation", CATEGORICAL_CASES)
def test_categorical_log_prob_and_entropy_by_hand(name, env_name, n_hidden, activation):
    env = _env(env_name)
    policy = make_policy(name, env, hidden=(6, 5))
    params = perturbed(policy.init(jax.random.key(0), env), scale=0.05 if name == "pong-mlp" else 0.5)
    x = inputs_for(env, 7)
    logits = numpy_mlp(params["params"], np.asarray(x), n_hidden, activation)
    expected = numpy_log_softmax(logits)  # (7, K)
    k = env.num_actions
    actions = jnp.asarray(np.arange(7) % k, jnp.int32)
    # batched
    got = np.asarray(policy.log_prob(params, x, actions))
    np.testing.assert_allclose(got, expected[np.arange(7), np.arange(7) % k], rtol=2e-5, atol=2e-5)
    # one input vector at a time, every action: exp(log pi) sums to one
    table = np.array([[float(policy.log_prob(params, x[i], jnp.int32(a))) for a in range(k)] for i in range(3)])
    np.testing.assert_allclose(table, expected[:3], rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(np.exp(table).sum(axis=1), 1.0, rtol=1e-5)
    # entropy -sum_a p_a log p_a
    p = np.exp(expected)
    np.testing.assert_allclose(np.asarray(policy.entropy(params, x)), -(p * expected).sum(axis=1), rtol=2e-5, atol=2e-6)
    assert policy.log_prob(params, x[0], jnp.int32(0)).shape == () and policy.entropy(params, x[0]).shape == ()


GAUSSIAN_CASES = [  # (policy, action_dim, state_dependent_sigma)
    ("linear-gaussian", 1, False),
    ("linear-gaussian", 2, True),
    ("mlp-gaussian", 1, True),
    ("mlp-gaussian", 3, False),
]


@pytest.mark.parametrize("name,action_dim,sds", GAUSSIAN_CASES)
def test_gaussian_log_prob_and_entropy_by_hand(name, action_dim, sds):
    env = make_environment("pendulum") if action_dim == 1 else fake_environment(discrete=False, n=action_dim)
    policy = make_policy(name, env, hidden=(6, 5), state_dependent_sigma=sds, init_log_sigma=-0.3)
    params = perturbed(policy.init(jax.random.key(0), env), scale=0.3)
    x = inputs_for(env, 7)
    n_hidden = 2 if name.startswith("mlp-") else 0
    mean, log_sigma = numpy_gaussian_head(params["params"], np.asarray(x), n_hidden)
    a = np.random.default_rng(3).standard_normal((7, action_dim)) * 2.0
    expected = np.sum(-0.5 * ((a - mean) / np.exp(log_sigma)) ** 2 - log_sigma - 0.5 * np.log(2 * np.pi), axis=1)
    got = np.asarray(policy.log_prob(params, x, jnp.asarray(a, jnp.float32)))
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-5)
    one = float(policy.log_prob(params, x[0], jnp.asarray(a[0], jnp.float32)))
    np.testing.assert_allclose(one, expected[0], rtol=2e-5, atol=2e-5)
    entropy = np.sum(log_sigma + 0.5 * np.log(2 * np.pi * np.e), axis=1)
    np.testing.assert_allclose(np.asarray(policy.entropy(params, x)), entropy, rtol=2e-5, atol=2e-5)
    assert policy.sample(params, jax.random.key(0), x[0]).shape == (action_dim,)
    assert policy.sample(params, jax.random.key(0), x).shape == (7, action_dim)


def test_linear_scores_in_closed_form():
    """grad log pi of the linear policies: softmax  d/dW = x (e_a - p)', d/db = e_a - p;
    Gaussian  d/dW = x ((a - mu) / sigma^2)', d/db = (a - mu) / sigma^2, d/dlog_sigma = z^2 - 1."""
    cart = make_environment("cartpole")
    soft = make_policy("linear-softmax", cart)
    params = perturbed(soft.init(jax.random.key(0), cart))
    x = inputs_for(cart, 1)[0]
    p = np.exp(numpy_log_softmax(numpy_mlp(params["params"], np.asarray(x), 0)))
    for a in range(2):
        g = jax.grad(soft.log_prob)(params, x, jnp.int32(a))["params"]["Dense_0"]
        e = np.eye(2)[a]
        np.testing.assert_allclose(np.asarray(g["bias"]), e - p, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(g["kernel"]), np.outer(np.asarray(x), e - p), rtol=1e-5, atol=1e-6)

    env = fake_environment(discrete=False, n=2)
    gauss = make_policy("linear-gaussian", env)
    params = perturbed(gauss.init(jax.random.key(0), env))
    x = inputs_for(env, 1)[0]
    mean, log_sigma = numpy_gaussian_head(params["params"], np.asarray(x), 0)
    a = np.array([0.3, -1.2])
    g = jax.grad(gauss.log_prob)(params, x, jnp.asarray(a, jnp.float32))["params"]
    z = (a - mean) / np.exp(log_sigma)
    np.testing.assert_allclose(np.asarray(g["mean"]["bias"]), z / np.exp(log_sigma), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(g["mean"]["kernel"]), np.outer(np.asarray(x), z / np.exp(log_sigma)), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(np.asarray(g["log_sigma"]), z**2 - 1.0, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------- sampled distributions
def _categorical_with_logits(logits):
    """A linear-softmax policy whose logits are ``logits`` at x = 0 (through its bias)."""
    env = fake_environment(discrete=True, n=len(logits))
    policy = make_policy("linear-softmax", env)
    params = policy.init(jax.random.key(0), env)
    params = {
        "params": {
            "Dense_0": {"kernel": params["params"]["Dense_0"]["kernel"], "bias": jnp.asarray(logits, jnp.float32)}
        }
    }
    return env, policy, params


@pytest.mark.parametrize("logits", [[0.0, 0.0], [-1.0, 0.5, 2.0, 0.0], [0.0, -200.0, 1.0]])
def test_sampled_action_frequencies_match_the_policy(logits):
    """Frequencies of N actions drawn by ``sample`` with independent keys (as a rollout does) against
    pi(a | x): per action |f_a - p_a| <= z sqrt(p_a (1 - p_a) / N), Bonferroni over the K actions (family-wise
    false-failure rate ALPHA). An action of probability 0 in float32 (logit -200) must never be drawn."""
    env, policy, params = _categorical_with_logits(logits)
    x = jnp.zeros((3,), jnp.float32)
    keys = jax.random.split(jax.random.key(11), N_SAMPLES)
    actions = np.asarray(jax.jit(jax.vmap(policy.sample, (None, 0, None)))(params, keys, x))
    assert actions.dtype == np.int32 and actions.min() >= 0 and actions.max() < len(logits)
    p = np.exp(numpy_log_softmax(np.asarray(logits, np.float64)))
    freq = np.bincount(actions, minlength=len(logits)) / N_SAMPLES
    bound = z_bound(len(logits))
    for a, (f, q) in enumerate(zip(freq, p)):
        if q < 1e-30:
            assert f == 0.0, f"action {a} of probability {q:.1e} was drawn"
        else:
            assert abs(f - q) <= bound * math.sqrt(q * (1 - q) / N_SAMPLES), (a, f, q)
    # the batched path draws from the same distribution, with one action per input vector
    batched = policy.sample(params, jax.random.key(12), jnp.zeros((10, 3), jnp.float32))
    assert batched.shape == (10,) and batched.dtype == jnp.int32


def test_sampled_gaussian_moments_match_the_policy():
    """Mean and variance of N Gaussian actions per dimension against mu(x), sigma(x)^2: the mean by a z-test
    with the exact standard deviation sigma / sqrt(N), the sample variance with the standard error of a sample
    variance sqrt((m4 - s^4 (N - 3) / (N - 1)) / N) (pgjax.analysis.stats.variance_se); Bonferroni over 2 x 2 comparisons."""
    env = fake_environment(discrete=False, n=2)
    policy = make_policy("linear-gaussian", env)
    params = policy.init(jax.random.key(0), env)
    params["params"]["mean"]["bias"] = jnp.asarray([1.5, -0.25], jnp.float32)
    params["params"]["log_sigma"] = jnp.asarray([-1.0, 0.7], jnp.float32)
    x = jnp.asarray([0.3, -0.2, 0.5], jnp.float32)
    mean, log_sigma = numpy_gaussian_head(params["params"], np.asarray(x), 0)
    sigma = np.exp(log_sigma)
    keys = jax.random.split(jax.random.key(21), N_SAMPLES)
    a = np.asarray(jax.jit(jax.vmap(policy.sample, (None, 0, None)))(params, keys, x), np.float64)
    assert a.shape == (N_SAMPLES, 2)
    bound = z_bound(4)
    z_mean = (a.mean(axis=0) - mean) / (sigma / math.sqrt(N_SAMPLES))
    centred = a - a.mean(axis=0)
    s2 = (centred**2).sum(axis=0) / (N_SAMPLES - 1)
    m4 = (centred**4).mean(axis=0)
    se_var = np.sqrt((m4 - s2**2 * (N_SAMPLES - 3) / (N_SAMPLES - 1)) / N_SAMPLES)
    z_var = (s2 - sigma**2) / se_var
    assert np.all(np.abs(z_mean) <= bound), z_mean
    assert np.all(np.abs(z_var) <= bound), z_var


# -------------------------------------------------------------------------------------------------- critic
def test_critic_by_hand():
    critic = Critic(hidden=(7, 5))
    assert hash(critic) == hash(Critic(hidden=(7, 5)))
    params = perturbed(critic.init(jax.random.key(0), 4))
    assert all(v.dtype == jnp.float32 for v in jax.tree.leaves(params))
    x = jnp.asarray(np.random.default_rng(0).standard_normal((6, 4)), jnp.float32)
    expected = numpy_mlp(params["params"], np.asarray(x), 2)[:, 0]
    np.testing.assert_allclose(np.asarray(critic.value(params, x)), expected, rtol=2e-5, atol=2e-5)
    assert critic.value(params, x[0]).shape == ()
    linear = Critic(hidden=())
    lp = linear.init(jax.random.key(0), 4)
    assert float(linear.value(lp, x[0])) == 0.0
    default = Critic()
    assert default.hidden == (64, 64)
    dp = default.init(jax.random.key(1), 3)
    assert dp["params"]["Dense_0"]["kernel"].shape == (3, 64) and dp["params"]["Dense_2"]["kernel"].shape == (64, 1)
