"""The mathematics of one branch's belief state: a Gaussian on the log-odds scale.

A two-outcome branch believes ``x = logit P(first outcome) ~ N(m, S)``; an event with
``K`` outcomes keeps the ``K - 1`` log-ratios against the last outcome, ``x ~ N(m, S)``
with a full covariance. The reported probability is the **Bayes point**: ``sigmoid(m)``
(``softmax([m, 0])`` for ``K`` outcomes), so that a likelihood ratio multiplies the odds
exactly; ``S`` gives the band the inputs' stated uncertainty allows,
``sigmoid(m -/+ z sqrt(S))``. See ``docs/model.md``. NumPy only, so the exact path stays
quick to import; no quadrature anywhere.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

__all__ = [
    "logit",
    "logitnormal_from_beta",
    "logitnormal_from_interval",
    "normal_quantile",
    "point_probabilities",
    "sigmoid",
    "sigmoid_interval",
    "softmax_last_zero",
]


def sigmoid(x):
    """Logistic function, overflow-safe, elementwise.

    Examples
    --------
    >>> float(sigmoid(0.0))
    0.5
    """
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def logit(p):
    """Log-odds of ``p`` (elementwise).

    Examples
    --------
    >>> round(float(logit(0.2)), 6)
    -1.386294
    """
    p = np.asarray(p, dtype=float)
    return np.log(p) - np.log1p(-p)


def normal_quantile(q: float) -> float:
    """Standard normal quantile (``z`` for a central interval of ``2q - 1``)."""
    return NormalDist().inv_cdf(q)


def softmax_last_zero(x) -> np.ndarray:
    """Softmax over log-ratios against the last outcome (whose log-ratio is 0), along the last axis.

    The one softmax of the package: ``x`` of shape ``(..., K - 1)`` gives ``(..., K)``.

    Examples
    --------
    >>> softmax_last_zero(np.log([2.0, 1.0])).round(4).tolist()
    [0.5, 0.25, 0.25]
    """
    x = np.asarray(x, dtype=float)
    full = np.concatenate([x, np.zeros(x.shape[:-1] + (1,))], axis=-1)
    full -= full.max(axis=-1, keepdims=True)
    e = np.exp(full)
    return e / e.sum(axis=-1, keepdims=True)


def point_probabilities(m) -> np.ndarray:
    """The Bayes point of a state with mean ``m`` (``(..., K - 1)``): the ``K`` outcome probabilities.

    For two outcomes ``[sigmoid(m), 1 - sigmoid(m)]``; for more, ``softmax([m, 0])``.

    Examples
    --------
    >>> point_probabilities(np.array([np.log(2.5)])).round(4).tolist()
    [0.7143, 0.2857]
    """
    m = np.asarray(m, dtype=float)
    if m.shape[-1] == 1:
        p = sigmoid(m[..., 0])
        return np.stack([p, 1.0 - p], axis=-1)
    return softmax_last_zero(m)


def sigmoid_interval(m, S, level: float):
    """Central band of ``sigmoid(x)``, ``x ~ N(m, S)``: ``sigmoid(m -/+ z sqrt(S))``.

    Examples
    --------
    >>> lo, hi = sigmoid_interval(0.0, 1.0, 0.9)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.1618, 0.8382)
    """
    z = normal_quantile(0.5 + level / 2.0)
    half = z * np.sqrt(np.maximum(np.asarray(S, dtype=float), 0.0))
    m = np.asarray(m, dtype=float)
    return sigmoid(m - half), sigmoid(m + half)


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

    ``p = a / (a + b)`` (the Beta's mean, the point) and ``sd`` is the standard
    deviation of ``logit`` of a Beta variable, ``sqrt(trigamma(a) + trigamma(b))``.

    Examples
    --------
    >>> p, sd = logitnormal_from_beta(2, 8)
    >>> round(p, 3), round(sd, 3)
    (0.2, 0.882)
    """
    return a / (a + b), math.sqrt(_trigamma(a) + _trigamma(b))


def logitnormal_from_interval(lo: float, hi: float, level: float = 0.9) -> tuple[float, float]:
    """``(m, sd)`` of the logit-normal whose central ``level`` interval is ``[lo, hi]``.

    Examples
    --------
    >>> m, sd = logitnormal_from_interval(0.1, 0.5)
    >>> round(m, 4), round(sd, 4)
    (-1.0986, 0.6679)
    """
    a, b = math.log(lo / (1 - lo)), math.log(hi / (1 - hi))
    z = normal_quantile(0.5 + level / 2.0)
    return (a + b) / 2.0, (b - a) / (2.0 * z)
