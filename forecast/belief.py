"""The mathematics of one branch's belief state: a Gaussian on the logit scale.

A two-outcome branch believes ``x = logit P(first outcome) ~ N(m, S)``; an event with
``K`` outcomes keeps the ``K - 1`` log-ratios against the last outcome, ``x ~ N(m, S)``
with a full covariance. This module turns such states into reported probabilities
(``E[sigmoid(x)]``, ``E[softmax(x)]``) and intervals, and back: it finds the mean ``m``
that makes a prior's *mean probability* equal the analyst's number. NumPy only, so the
exact path stays quick to import.
"""

from __future__ import annotations

import math
from functools import cache
from statistics import NormalDist

import numpy as np

__all__ = [
    "expected_sigmoid",
    "expected_softmax",
    "logit",
    "match_mean_logit",
    "match_mean_logratios",
    "normal_quantile",
    "sigmoid",
    "sigmoid_interval",
    "logitnormal_from_beta",
    "logitnormal_from_interval",
]

_GH_NODES = 64


@cache
def _hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Hermite nodes and weights for E[f(Z)], Z ~ N(0, 1) (weights sum to 1)."""
    from numpy.polynomial.hermite_e import hermegauss

    z, w = hermegauss(n)
    return z, w / w.sum()


def sigmoid(x):
    """Logistic function, overflow-safe, elementwise."""
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def logit(p):
    """Log-odds of ``p`` (elementwise)."""
    p = np.asarray(p, dtype=float)
    return np.log(p) - np.log1p(-p)


def normal_quantile(q: float) -> float:
    """Standard normal quantile (``z`` for a central interval of ``2q - 1``)."""
    return NormalDist().inv_cdf(q)


def expected_sigmoid(m, S):
    """``E[sigmoid(x)]`` for ``x ~ N(m, S)``, elementwise, accurate to about 1e-9.

    Gauss–Hermite quadrature (64 nodes) where ``sd <= 2``; wider states use the
    trapezoid rule on a grid fine enough to resolve the sigmoid's step (their
    integrand is too sharp for Gauss–Hermite). ``S = 0`` gives ``sigmoid(m)``.

    Examples
    --------
    >>> round(float(expected_sigmoid(0.0, 4.0)), 6)
    0.5
    """
    m, S = np.broadcast_arrays(np.asarray(m, dtype=float), np.asarray(S, dtype=float))
    sd = np.sqrt(np.maximum(S, 0.0))
    z, w = _hermite(_GH_NODES)
    narrow = sd <= 2.0
    out = np.empty(m.shape)
    out[narrow] = sigmoid(m[narrow][:, None] + sd[narrow][:, None] * z) @ w
    if not narrow.all():
        out[~narrow] = [_wide_expected_sigmoid(mi, si) for mi, si in zip(m[~narrow], sd[~narrow], strict=True)]
    return out if out.ndim else float(out)


def _wide_expected_sigmoid(m: float, sd: float) -> float:
    h = max(min(0.05, 0.25 / sd), 1e-5)  # a finer grid than 1e-5 adds nothing at 1e-4 accuracy
    z = np.arange(-10.0, 10.0 + h / 2, h)
    phi = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return float(np.sum(sigmoid(m + sd * z) * phi) * h)


def _expected_dsigmoid(m, sd):
    z, w = _hermite(_GH_NODES)
    s = sigmoid(m[..., None] + sd[..., None] * z)
    return (s * (1.0 - s)) @ w


def match_mean_logit(p, sd):
    """The mean logit ``m`` with ``E[sigmoid(m + sd Z)] = p`` (elementwise).

    Newton's method from ``logit(p)``, safeguarded by bisection; exact to 1e-12.

    Examples
    --------
    >>> m = match_mean_logit(0.2, 1.0)
    >>> round(float(expected_sigmoid(m, 1.0)), 10)
    0.2
    """
    p = np.asarray(p, dtype=float)
    sd = np.broadcast_to(np.asarray(sd, dtype=float), p.shape).astype(float)
    m = logit(p)
    lo = -60.0 - 12.0 * sd  # wide enough that E[sigmoid] there is below any p (above, for hi)
    hi = 60.0 + 12.0 * sd
    for _ in range(100):
        f = expected_sigmoid(m, sd**2) - p
        if np.all(np.abs(f) < 1e-13):
            break
        lo = np.where(f < 0, m, lo)
        hi = np.where(f > 0, m, hi)
        step = f / np.maximum(_expected_dsigmoid(m, sd), 1e-300)
        new = m - step
        outside = (new <= lo) | (new >= hi) | ~np.isfinite(new)
        m = np.where(outside, 0.5 * (lo + hi), new)
    return m


def sigmoid_interval(m, S, level: float):
    """Central interval of ``sigmoid(x)``, ``x ~ N(m, S)``: ``sigmoid(m -/+ z sqrt(S))``."""
    z = normal_quantile(0.5 + level / 2.0)
    half = z * np.sqrt(np.maximum(np.asarray(S, dtype=float), 0.0))
    m = np.asarray(m, dtype=float)
    return sigmoid(m - half), sigmoid(m + half)


def _grid(d: int) -> tuple[np.ndarray, np.ndarray]:
    """Tensor Gauss–Hermite grid in ``d`` dimensions, at most ~20k points."""
    n = max(5, min(24, int(20000 ** (1.0 / d))))
    z, w = _hermite(n)
    zs = np.stack(np.meshgrid(*([z] * d), indexing="ij"), axis=-1).reshape(-1, d)
    ws = np.prod(np.stack(np.meshgrid(*([w] * d), indexing="ij"), axis=-1), axis=-1)
    return zs, ws.reshape(-1)


def _softmax_last_zero(x: np.ndarray) -> np.ndarray:
    """Softmax over log-ratios against the last outcome (whose log-ratio is 0)."""
    full = np.concatenate([x, np.zeros(x.shape[:-1] + (1,))], axis=-1)
    full -= full.max(axis=-1, keepdims=True)
    e = np.exp(full)
    return e / e.sum(axis=-1, keepdims=True)


def expected_softmax(m, S):
    """``E[softmax([x, 0])]`` for ``x ~ N(m, S)`` in ``d = K - 1`` dimensions.

    Returns the ``K`` outcome probabilities. Tensor Gauss–Hermite quadrature through a
    (pivoted) square root of ``S``; a singular ``S`` (e.g. a point prior) is fine. Three
    outcomes with a spread above 2 use the trapezoid rule on a fine grid instead (like
    :func:`expected_sigmoid`, Gauss–Hermite misses the softmax's sharp steps there).
    """
    m = np.asarray(m, dtype=float)
    S = np.asarray(S, dtype=float)
    d = m.shape[-1]
    vals, vecs = np.linalg.eigh(S)
    root = vecs * np.sqrt(np.maximum(vals, 0.0))
    zs, ws = _trapezoid_grid_2d() if d == 2 and vals.max() > 4.0 else _grid(d)
    return ws @ _softmax_last_zero(m + zs @ root.T)


@cache
def _trapezoid_grid_2d(n: int = 301, half_width: float = 8.5) -> tuple[np.ndarray, np.ndarray]:
    """Trapezoid nodes and weights for E[f(Z)], Z ~ N(0, I_2) (softmax to ~1e-6 up to sd 30)."""
    z = np.linspace(-half_width, half_width, n)
    w = np.exp(-0.5 * z * z)
    w /= w.sum()
    zs = np.stack(np.meshgrid(z, z, indexing="ij"), axis=-1).reshape(-1, 2)
    return zs, np.outer(w, w).reshape(-1)


def match_mean_logratios(probs, sd: float) -> np.ndarray:
    """Mean log-ratios ``m`` with ``E[softmax([m + sd Z, 0])] = probs``.

    Fixed-point iteration on ``m_k += log(p_k / q_k) - log(p_K / q_K)``.
    """
    p = np.asarray(probs, dtype=float)
    d = p.size - 1
    S = np.eye(d) * sd**2
    m = np.log(p[:-1]) - np.log(p[-1])
    for _ in range(500):
        q = expected_softmax(m, S)
        step = np.log(p[:-1] / q[:-1]) - np.log(p[-1] / q[-1])
        m = m + step
        if np.max(np.abs(step)) < 1e-12:
            break
    return m


def _digamma(x: float) -> float:
    shift = 0.0
    while x < 6.0:
        shift -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    series = math.log(x) - 0.5 / x - f * (1 / 12 - f * (1 / 120 - f * (1 / 252 - f / 240)))
    return shift + series


def _trigamma(x: float) -> float:
    shift = 0.0
    while x < 6.0:
        shift += 1.0 / (x * x)
        x += 1.0
    f = 1.0 / (x * x)
    series = 1 / x + f / 2 + f / x * (1 / 6 - f * (1 / 30 - f * (1 / 42 - f / 30)))
    return shift + series


def logitnormal_from_beta(a: float, b: float) -> tuple[float, float]:
    """``(p, sd)`` of the logit-normal standing for ``Beta(a, b)``.

    ``p = a / (a + b)`` (the Beta's mean, matched exactly) and ``sd`` is the standard
    deviation of ``logit`` of a Beta variable, ``sqrt(trigamma(a) + trigamma(b))``.

    Examples
    --------
    >>> p, sd = logitnormal_from_beta(2, 8)
    >>> round(p, 3), round(sd, 3)
    (0.2, 0.882)
    """
    return a / (a + b), math.sqrt(_trigamma(a) + _trigamma(b))


def logitnormal_from_interval(lo: float, hi: float, level: float = 0.9) -> tuple[float, float]:
    """``(m, sd)`` of the logit-normal whose central ``level`` interval is ``[lo, hi]``."""
    a, b = math.log(lo / (1 - lo)), math.log(hi / (1 - hi))
    z = normal_quantile(0.5 + level / 2.0)
    return (a + b) / 2.0, (b - a) / (2.0 * z)
