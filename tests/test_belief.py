"""The maths of one belief state against scipy (quadrature, special functions)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from forecast import belief


def quad_expected_sigmoid(m: float, sd: float) -> float:
    """E[sigmoid(m + sd Z)] by adaptive quadrature over z."""
    if sd == 0:
        return float(special.expit(m))
    f = lambda z: special.expit(m + sd * z) * stats.norm.pdf(z)  # noqa: E731
    # finite range (the normal tail beyond 12 sd is < 1e-32), split at the sigmoid's
    # centre so that a narrow step is never missed
    points = sorted({-12.0, 12.0, min(max(-m / sd, -12.0), 12.0)})
    return sum(integrate.quad(f, a, b, epsabs=1e-13, epsrel=1e-12, limit=200)[0]
               for a, b in zip(points, points[1:], strict=False))


GRID = [(m, sd) for m in (-8.0, -3.0, -1.0, -0.2, 0.0, 0.7, 2.5, 6.0)
        for sd in (0.0, 0.05, 0.5, 1.0, 1.9, 2.0, 2.1, 3.0, 5.0, 10.0, 30.0)]


@pytest.mark.parametrize(("m", "sd"), GRID)
def test_expected_sigmoid_matches_quadrature(m, sd):
    assert belief.expected_sigmoid(m, sd**2) == pytest.approx(quad_expected_sigmoid(m, sd), abs=1e-6)


def test_expected_sigmoid_is_vectorised_and_symmetric():
    m = np.array([-2.0, 0.0, 1.5, 4.0])
    S = np.array([0.0, 9.0, 1.0, 40.0])
    out = belief.expected_sigmoid(m, S)
    assert out.shape == (4,)
    np.testing.assert_allclose(out + belief.expected_sigmoid(-m, S), 1.0, atol=1e-12)
    np.testing.assert_allclose(out, [quad_expected_sigmoid(a, math.sqrt(b)) for a, b in zip(m, S, strict=True)], atol=1e-6)


@pytest.mark.parametrize("p", [0.001, 0.03, 0.2, 0.5, 0.77, 0.999])
@pytest.mark.parametrize("sd", [0.0, 0.3, 1.0, 2.5, 6.0])
def test_prior_matching_gives_the_mean_probability(p, sd):
    m = float(belief.match_mean_logit(p, sd))
    assert quad_expected_sigmoid(m, sd) == pytest.approx(p, abs=1e-7)
    if sd == 0:
        assert m == pytest.approx(math.log(p / (1 - p)), abs=1e-9)


def test_prior_matching_moves_the_mean_logit_outwards():
    # a wide belief pulls E[sigmoid] towards 1/2, so the mean logit must be further out
    assert float(belief.match_mean_logit(0.2, 2.0)) < math.log(0.2 / 0.8)
    assert float(belief.match_mean_logit(0.5, 2.0)) == pytest.approx(0.0, abs=1e-9)


def mc_softmax(m, S, n=400_000, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.multivariate_normal(m, S, size=n, method="eigh")
    full = np.column_stack([x, np.zeros(n)])
    e = np.exp(full - full.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).mean(axis=0)


def quad_softmax_2d(m, S, n=801):
    """E[softmax([x1, x2, 0])] by the trapezoid rule on a fine grid of two standard normals.

    Independent of Gauss-Hermite; the trapezoid rule is spectrally accurate for a smooth
    integrand with Gaussian tails, so this is good to ~1e-9.
    """
    L = np.linalg.cholesky(np.asarray(S, dtype=float))
    z = np.linspace(-9.0, 9.0, n)
    h = z[1] - z[0]
    z1, z2 = (g.reshape(-1) for g in np.meshgrid(z, z, indexing="ij"))
    x = np.asarray(m, dtype=float)[:, None] + L @ np.vstack([z1, z2])
    full = np.vstack([x, np.zeros(x.shape[1])])
    e = np.exp(full - full.max(axis=0))
    soft = e / e.sum(axis=0)
    w = stats.norm.pdf(z1) * stats.norm.pdf(z2) * h * h
    return soft @ w


@pytest.mark.parametrize(("m", "S"), [
    ([0.0, 0.0], [[1.0, 0.0], [0.0, 1.0]]),
    ([1.2, -0.5], [[0.64, 0.2], [0.2, 0.5]]),
    ([-2.0, 1.0], [[2.25, -0.9], [-0.9, 1.0]]),
])
def test_expected_softmax_matches_quadrature(m, S):
    got = belief.expected_softmax(np.array(m), np.array(S))
    np.testing.assert_allclose(got, quad_softmax_2d(m, np.array(S)), atol=1e-5)
    assert got.sum() == pytest.approx(1.0, abs=1e-12)


def test_expected_softmax_matches_monte_carlo_in_three_dimensions():
    m = np.array([0.5, -0.3, 1.0])
    A = np.array([[0.8, 0.1, 0.0], [0.1, 0.5, -0.2], [0.0, -0.2, 1.1]])
    S = A @ A.T
    np.testing.assert_allclose(belief.expected_softmax(m, S), mc_softmax(m, S), atol=3e-3)


def test_expected_softmax_of_a_point_state_is_the_softmax():
    m = np.array([1.0, -1.0])
    e = np.exp([1.0, -1.0, 0.0])
    np.testing.assert_allclose(belief.expected_softmax(m, np.zeros((2, 2))), e / e.sum(), atol=1e-12)


@pytest.mark.parametrize("probs", [[0.5, 0.3, 0.2], [0.1, 0.1, 0.8], [0.25, 0.25, 0.25, 0.25]])
@pytest.mark.parametrize("sd", [0.5, 1.2])
def test_matching_log_ratios_gives_the_mean_probabilities(probs, sd):
    m = belief.match_mean_logratios(probs, sd)
    d = len(probs) - 1
    np.testing.assert_allclose(belief.expected_softmax(m, np.eye(d) * sd**2), probs, atol=1e-9)
    if d == 2:
        np.testing.assert_allclose(quad_softmax_2d(m, np.eye(2) * sd**2), probs, atol=1e-5)


@pytest.mark.parametrize(("a", "b"), [(0.5, 0.5), (1, 1), (2, 8), (6, 4), (2, 30), (0.3, 7), (40, 60)])
def test_beta_conversion_against_scipy(a, b):
    p, sd = belief.logitnormal_from_beta(a, b)
    assert p == pytest.approx(a / (a + b), rel=1e-12)
    assert sd == pytest.approx(math.sqrt(special.polygamma(1, a) + special.polygamma(1, b)), rel=1e-9)
    # sd is the standard deviation of logit(X), X ~ Beta(a, b): check by quadrature
    var, _ = integrate.quad(
        lambda x: (special.logit(x) - (special.digamma(a) - special.digamma(b))) ** 2 * stats.beta.pdf(x, a, b),
        0, 1, limit=200)
    assert sd == pytest.approx(math.sqrt(var), rel=1e-5)


def test_trigamma_helper_against_scipy():
    for x in (0.1, 0.5, 1.0, 3.3, 10.0, 120.0):
        assert belief._trigamma(x) == pytest.approx(float(special.polygamma(1, x)), rel=1e-9)


@pytest.mark.parametrize(("lo", "hi"), [(0.2, 0.7), (0.05, 0.45), (0.001, 0.01), (0.6, 0.99)])
@pytest.mark.parametrize("level", [0.8, 0.9, 0.95])
def test_interval_conversion_round_trips(lo, hi, level):
    m, sd = belief.logitnormal_from_interval(lo, hi, level)
    z = stats.norm.ppf(0.5 + level / 2)
    assert m == pytest.approx((special.logit(lo) + special.logit(hi)) / 2, abs=1e-12)
    assert sd == pytest.approx((special.logit(hi) - special.logit(lo)) / (2 * z), rel=1e-9)
    low, high = belief.sigmoid_interval(m, sd**2, level)
    assert float(low) == pytest.approx(lo, rel=1e-9)
    assert float(high) == pytest.approx(hi, rel=1e-9)


def test_readme_interval_example():
    m, sd = belief.logitnormal_from_interval(0.2, 0.7)
    assert special.expit(m) == pytest.approx(0.43, abs=0.005)
    assert sd == pytest.approx(0.68, abs=0.005)
    assert belief.normal_quantile(0.95) == pytest.approx(1.6449, abs=1e-4)


def test_sigmoid_and_logit_are_stable_and_inverse():
    x = np.array([-800.0, -30.0, -1.0, 0.0, 2.0, 40.0, 800.0])
    s = belief.sigmoid(x)
    assert np.all(np.isfinite(s)) and s[0] == 0.0 and s[-1] == 1.0
    np.testing.assert_allclose(s, special.expit(x), rtol=1e-14)
    p = np.array([1e-9, 0.2, 0.5, 0.93])
    np.testing.assert_allclose(belief.sigmoid(belief.logit(p)), p, rtol=1e-12)


@pytest.mark.parametrize("p", [1e-9, 1e-4, 0.9999])
@pytest.mark.parametrize("sd", [10.0, 50.0, 100.0])
def test_prior_matching_with_very_wide_spreads(p, sd):
    # the mean logit lies far beyond +-60 when the spread is wide and p is extreme
    m = float(belief.match_mean_logit(p, sd))
    assert quad_expected_sigmoid(m, sd) == pytest.approx(p, rel=1e-4, abs=1e-9)


@pytest.mark.parametrize("m", [[0.0, 0.0], [2.0, -1.0], [-4.0, 3.0]])
@pytest.mark.parametrize("sd", [2.5, 4.0, 6.0, 10.0])
def test_expected_softmax_with_wide_spreads(m, sd):
    S = np.array([[1.0, 0.3], [0.3, 1.0]]) * sd * sd
    np.testing.assert_allclose(belief.expected_softmax(np.array(m), S), quad_softmax_2d(m, S, n=1601), atol=1e-5)
