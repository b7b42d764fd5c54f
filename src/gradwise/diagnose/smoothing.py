"""Pure smoothers and robust fits of one curve (no state, no thresholds): the signal processing the
features are measured with.

* :func:`running_median` / :func:`smooth` - spike-proof trends (median, then mean);
* :func:`theil_sen` - a robust line through the end of a curve (its level and slope);
* :func:`local_linear` / :func:`cv_smooth` - a local-linear fit whose width the curve's own noise chooses;
* :func:`mean3` - the centred 3-epoch mean that defines the best epoch (:mod:`gradwise.diagnose.best`);
* :func:`locate_minimum` - the bottom region of a noisy validation curve.
"""
from __future__ import annotations

import numpy as np


def mean3(x: np.ndarray) -> np.ndarray:
    """Centred 3-epoch mean of ``x``; the first and last epochs count their own value twice (edge padding)."""
    x = np.asarray(x, dtype=float)
    if len(x) < 2:
        return x.copy()
    return np.convolve(np.pad(x, 1, mode="edge"), np.ones(3) / 3, mode="valid")


def running_median(x: np.ndarray, half: int) -> np.ndarray:
    """Median of x[i-half : i+half+1] for every i, the window truncated at the ends of the curve."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    out = np.empty(n)
    if n > 2 * half:
        out[half: n - half] = np.median(np.lib.stride_tricks.sliding_window_view(x, 2 * half + 1), axis=1)
    for i in [*range(min(half, n)), *range(max(half, n - half), n)]:
        out[i] = np.median(x[max(0, i - half): i + half + 1])
    return out


def smooth(x: np.ndarray, window: int) -> np.ndarray:
    """Running median (removes spikes) followed by a running mean (removes jitter), same odd window;
    windows are truncated at the ends of the curve rather than padded with invented values."""
    x = np.asarray(x, dtype=float)
    half = window // 2
    if half < 1:
        return x.copy()
    med = running_median(x, half)
    csum = np.concatenate([[0.0], np.cumsum(med)])
    lo = np.maximum(np.arange(len(x)) - half, 0)
    hi = np.minimum(np.arange(len(x)) + half + 1, len(x))
    return (csum[hi] - csum[lo]) / (hi - lo)


def theil_sen(y: np.ndarray) -> tuple[float, float]:
    """Robust line through ``y`` against 0..len-1: (slope per epoch, fitted value at the last point).

    The median of all pairwise slopes ignores the odd spike a least-squares fit would chase."""
    y = np.asarray(y, dtype=float)
    i, j = np.triu_indices(len(y), k=1)
    slope = float(np.median((y[j] - y[i]) / (j - i)))
    x = np.arange(len(y))
    intercept = float(np.median(y - slope * x))
    return slope, intercept + slope * (len(y) - 1)


def local_linear(y: np.ndarray, half: int) -> tuple[np.ndarray, np.ndarray]:
    """Local-linear (LOESS degree 1) fit of ``y`` against 0..len-1 with tricube weights over +-``half``
    epochs; returns the fit and the diagonal of its hat matrix (for leave-one-out residuals).

    A local line, unlike a running mean, follows a slope up to the edges of the curve without bias, so
    a minimum in the first epochs, or one between a steep fall and a steep rise, stays where it is."""
    y = np.asarray(y, dtype=float)
    n = len(y)
    idx = np.arange(n)
    s0, s1, s2, t0, t1 = (np.zeros(n) for _ in range(5))
    for d in range(-half, half + 1):
        j = idx + d
        ok = (j >= 0) & (j < n)
        w = (1 - (abs(d) / (half + 1)) ** 3) ** 3
        s0[ok] += w
        s1[ok] += w * d
        s2[ok] += w * d * d
        t0[ok] += w * y[j[ok]]
        t1[ok] += w * d * y[j[ok]]
    den = np.maximum(s0 * s2 - s1 ** 2, 1e-12)
    return (s2 * t0 - s1 * t1) / den, s2 / den


CV_HALF_WIDTHS: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 20, 25, 32, 40, 50)
"""Half-widths (epochs) among which :func:`cv_smooth` chooses; at most a quarter of the run."""


def cv_smooth(y: np.ndarray) -> tuple[np.ndarray, int]:
    """Smooth a validation curve as much as its own noise calls for: (fit, chosen half-width).

    The half-width of :func:`local_linear` is the one that minimises the leave-one-out prediction error
    of the raw curve (each epoch predicted from its neighbours alone, residual ``(y - fit) / (1 - hat)``):
    a smooth curve gets a narrow window that keeps a sharp V sharp, a noisy one a wide window, because
    narrow ones would predict the left-out epochs from noise.  (The choice is made on the raw values:
    pre-smoothing would correlate neighbouring epochs and make cross-validation pick too narrow a
    window.)  The fit itself is made to the curve after a 3-epoch running median, so that a single-epoch
    spike or dip - a lucky or broken evaluation - cannot become the minimum.  This replaces a fixed window
    of a tenth of the run, which on held-out runs was too narrow for noisy curves (the minimum was then
    pinned to a noise dip) and is too wide for early sharp minima."""
    fit, half, _ = _cv_fit(y)
    return fit, half


def _cv_fit(y: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """:func:`cv_smooth` plus the standard error of the fit at every epoch.

    The error is the leave-one-out RMS prediction error (an estimate of the curve's noise, slightly on the
    large side) times ``sqrt(hat)``: the hat-matrix diagonal of a kernel smoother is close to (a little above)
    the sum of its squared weights, which is the factor by which averaging shrinks the noise variance."""
    y = np.asarray(y, dtype=float)
    best: tuple[float, int] | None = None
    for half in CV_HALF_WIDTHS:
        if half > max(1, len(y) // 4):
            break
        fit, hat = local_linear(y, half)
        score = float(np.mean(((y - fit) / np.maximum(1 - hat, 1e-6)) ** 2))
        if best is None or score < best[0]:
            best = (score, half)
    assert best is not None
    fit, hat = local_linear(running_median(y, 1), best[1])
    return fit, best[1], np.sqrt(best[0] * np.clip(hat, 0.0, 1.0))


def locate_minimum(v: np.ndarray) -> tuple[int, int]:
    """Index of the validation minimum - the epoch to stop at - and the half-width used to find it.

    Two steps.  (1) :func:`cv_smooth` gives the trend and, with its standard error, the *bottom region*: the
    epochs whose trend lies within 1.5 standard errors of the trend's minimum - where the true minimum could
    be, given the noise (about a 90 % band; chosen on the seen sets: 1 was too narrow to reach the bend of
    var_overfit_5 below, 2 and 3 moved the stop of curve_runs_final's var_overfit_4 one epoch up its sharp V,
    which cut its measured rise below ``overfit_rise_relative``).  (2) Within that region the stop
    is the minimum of the curve's 3-epoch mean - the average the stop epochs are scored by.  With a
    validation set of hundreds of examples the epoch-to-epoch jitter is mostly the weights' own, which the
    true generalisation loss shares, so a low epoch inside the region is a better checkpoint, not luck of the
    evaluation (a 3-epoch median rejected such a dip in tests/data/curve_runs_final, var_overfit_1); a broken
    evaluation far from the bottom cannot win, because the trend that defines the region is fitted after a
    3-epoch median.  Step (1) alone failed on a noisy curve that bottoms out within its first epochs
    (curve_runs_final, var_overfit_5): cross-validation chose a 40-epoch window, whose local line,
    extrapolated to the first epoch, put the minimum at epoch 0, before the real bend.  Step (2) alone (the
    bench's naive rule) can be pulled to a dip far from the bottom of the trend.  On a smooth curve the region
    is a few epochs wide and the two steps agree."""
    fit, half, se = _cv_fit(v)
    k = int(np.argmin(fit))
    region = np.flatnonzero(fit <= fit[k] + 1.5 * se[k])
    mean3 = np.convolve(np.pad(np.asarray(v, dtype=float), 1, mode="edge"), np.ones(3) / 3, mode="valid")
    return int(region[np.argmin(mean3[region])]), half


def window(n: int, fraction: float, minimum: int, maximum: int) -> int:
    w = int(round(n * fraction))
    w = max(minimum, min(maximum, w, n))
    return w if w % 2 == 1 or w == n else w + 1
