"""The maths of one belief state against scipy: the Bayes point, its band, the prior conversions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from forecast import belief

# ----------------------------------------------------------------------------- the Bayes point


@pytest.mark.parametrize("m", [-40.0, -8.0, -1.3, 0.0, 0.7, 2.5, 30.0])
def test_point_of_two_outcomes_is_sigmoid_of_the_mean(m):
    p = belief.point_probabilities(np.array([m]))
    assert p[0] == pytest.approx(float(special.expit(m)), rel=1e-14, abs=1e-300)
    assert p[1] == pytest.approx(float(special.expit(-m)), rel=1e-14, abs=1e-15)  # 1 - p: good to rounding
    assert p.sum() == pytest.approx(1.0, abs=1e-15)


def test_a_likelihood_ratio_multiplies_the_odds_of_the_point():
    # the reason for the point: shift the log-odds by ln(lr) and the odds are multiplied by lr
    for p0, lr in ((0.2, 10.0), (0.3, 5.0), (0.9, 0.25)):
        p = belief.point_probabilities(np.array([math.log(p0 / (1 - p0)) + math.log(lr)]))[0]
        assert p / (1 - p) == pytest.approx(p0 / (1 - p0) * lr, rel=1e-13)
    assert belief.point_probabilities(np.array([math.log(2.5)]))[0] == pytest.approx(5 / 7, rel=1e-15)


@pytest.mark.parametrize("m", [[0.0, 0.0], [1.2, -0.5], [3.0, 2.0, -1.0], [-700.0, 2.0, 5.0], [800.0, 0.0, 1.0, -2.0]])
def test_point_of_several_outcomes_is_softmax_with_the_last_at_zero(m):
    want = special.softmax(np.array([*m, 0.0]))
    got = belief.point_probabilities(np.array(m))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(belief.softmax_last_zero(np.array(m)), want, rtol=1e-12, atol=1e-300)


def test_points_are_vectorised_over_leading_axes():
    m = np.array([[[0.5, -1.0], [2.0, 0.0]], [[-3.0, 1.0], [0.0, 0.0]]])
    got = belief.point_probabilities(m)
    assert got.shape == (2, 2, 3)
    np.testing.assert_allclose(got, special.softmax(np.concatenate([m, np.zeros((2, 2, 1))], axis=-1), axis=-1), rtol=1e-12)
    binary = belief.point_probabilities(np.array([[0.3], [-2.0]]))
    np.testing.assert_allclose(binary, [[special.expit(0.3), special.expit(-0.3)], [special.expit(-2.0), special.expit(2.0)]])


# ----------------------------------------------------------------------------- the band


@pytest.mark.parametrize(("m", "S"), [(0.0, 1.0), (-1.386, 0.25), (2.0, 0.0), (-5.0, 9.0)])
@pytest.mark.parametrize("level", [0.5, 0.8, 0.9, 0.95])
def test_band_is_sigmoid_of_m_plus_minus_z_sqrt_s(m, S, level):
    z = stats.norm.ppf(0.5 + level / 2)
    lo, hi = belief.sigmoid_interval(m, S, level)
    assert float(lo) == pytest.approx(float(special.expit(m - z * math.sqrt(S))), rel=1e-12)
    assert float(hi) == pytest.approx(float(special.expit(m + z * math.sqrt(S))), rel=1e-12)
    # the band holds the point, and it is the central interval of sigmoid(x), x ~ N(m, S)
    assert float(lo) <= special.expit(m) <= float(hi)
    if S > 0:
        assert stats.norm.cdf((special.logit(float(hi)) - m) / math.sqrt(S)) == pytest.approx(0.5 + level / 2, abs=1e-9)


def test_band_is_vectorised():
    lo, hi = belief.sigmoid_interval(np.array([0.0, 1.0]), np.array([1.0, 4.0]), 0.9)
    assert lo.shape == hi.shape == (2,)
    np.testing.assert_allclose(lo, special.expit(np.array([0.0, 1.0]) - 1.6448536269514722 * np.array([1.0, 2.0])))


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.975, 0.999])
def test_normal_quantile_against_scipy(q):
    assert belief.normal_quantile(q) == pytest.approx(float(stats.norm.ppf(q)), abs=1e-12)


def test_no_quadrature_is_left():
    # issue 10: the point is sigmoid(m) / softmax([m, 0]); E[sigmoid] and prior matching are gone
    for name in ("expected_sigmoid", "expected_softmax", "match_mean_logit", "match_mean_logratios"):
        assert not hasattr(belief, name), name


# ----------------------------------------------------------------------------- prior conversions


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
