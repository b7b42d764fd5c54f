"""Reading learning curves automatically: the lecture's "Training Graphs" as measurable rules.

The lecture tells five situations apart by looking at the per-epoch training and validation loss:

* **underfit** - "a flat line or noisy values of relatively high loss, indicating that the model was
  unable to learn the training dataset at all", or "a training loss that is decreasing and continues
  to decrease at the end of the plot" (the training "was halted prematurely").
* **overfit** - "the plot of training loss continues to decrease with experience" and "the plot of
  validation loss decreases to a point and begins increasing again"; "the *inflection point* in
  validation loss may be the point at which training could be halted".
* **unrepresentative_train** - "the training dataset does not provide sufficient information to learn
  the problem, relative to the validation dataset": both curves improve but a large gap remains.
* **unrepresentative_validation** - "a learning curve for validation loss that shows noisy movements
  around the training loss", or "a validation loss that is lower than the training loss" (the
  validation set "may be easier for the model to predict than the training dataset").
* **good_fit** - "training loss decreases to a point of stability" and "validation loss decreases to
  a point of stability and has a small gap with the training loss".

:func:`curves` measures a handful of scale-free features of the curves (see :func:`measure`) and
applies the rules in the order below; the first rule that fires gives the verdict.  All thresholds
live in :class:`Thresholds`, each with the reasoning for its default.

1. validation below training in >= ``val_below_fraction`` of the epochs, by
   >= ``val_below_margin`` of the training loss and ``val_below_range`` of
   the loss range                                                               -> unrepresentative_validation
2. training loss improved by less than ``flat_improvement`` of its start      -> underfit (flat / noisy)
   or jumps around its trend by >= ``erratic_training`` of the loss range while
   improving by less than ``erratic_improvement``                               -> underfit (erratic, lr)
3. validation residual noise > ``noisy_validation`` of the plot's loss range (or
   > ``noisy_validation_visible`` of it and > ``noisy_validation_level`` x the
   validation loss's own level) and > ``noisy_validation_ratio`` x the training
   curve's noise (a curve this noisy cannot show a trustworthy minimum), unless it rises after its minimum
   by >= ``noisy_overfit_z`` standard errors (then rule 4 reads it)              -> unrepresentative_validation
4. validation loss at the end above its minimum by >= ``overfit_rise_z``
   standard errors, ``overfit_rise`` of the loss range and
   ``overfit_rise_relative`` of the minimum, while training loss kept falling   -> overfit, stop at the minimum

The minimum (``best_epoch``) is found in two steps (:func:`_locate_minimum`): the validation curve
smoothed as much as its own noise calls for - a 3-epoch median, then a local-linear fit whose width is
chosen by leave-one-out cross-validation (see :func:`cv_smooth`) - marks the bottom region (the epochs
within 1.5 standard errors of its minimum), and the stop is the minimum of the curve's 3-epoch mean
inside that region: noise far from the bottom cannot fake it, a sharp V stays sharp, and a wide window
cannot move it off the curve's real bend.
5. gap between the curves at the end >= ``large_gap`` of the loss range and
   >= ``large_gap_relative`` of the validation loss                              -> unrepresentative_train
6. training and validation loss still falling: the last ``tail_fraction`` of
   the run brought >= ``still_falling`` of each one's total improvement, or
   cut each by >= ``still_falling_level`` of its final level                    -> underfit (train longer)
7. otherwise                                                                    -> good_fit

Without validation data only rule 2 and the training half of rule 6 can be applied (the loss range is
then that of the training curve alone).

Losses are assumed non-negative with 0 meaning perfect (true of MSE, cross-entropy, NLL, BCE, L1),
so that "relatively high" and "improved by x %" can be measured against the starting loss.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from gradwise.diagnose.history_io import LossHistory, history_from_object

Verdict = Literal["underfit", "overfit", "good_fit", "unrepresentative_train", "unrepresentative_validation"]
VERDICTS: tuple[str, ...] = ("underfit", "overfit", "good_fit", "unrepresentative_train", "unrepresentative_validation")


@dataclass(frozen=True)
class Thresholds:
    """Every number the diagnosis compares against, with the reasoning for its default.

    Override any of them with ``curves(h, thresholds=Thresholds(large_gap=0.3))`` or
    ``curves(h, thresholds={"large_gap": 0.3})``.  The defaults were chosen from the lecture's
    pictures and checked on the real runs of ``tests/data/curve_runs`` (see
    ``bench/diagnose_accuracy.py``); ``noisy_overfit_z``, ``erratic_training`` and the stop-epoch
    smoother were added after studying the failures on ``tests/data/curve_runs_heldout`` (new seeds,
    models, datasets, schedules and batch sizes), and all of them were then measured, unchanged, on
    ``tests/data/curve_runs_final``, made afterwards with other seeds (89.7 % of verdicts, 90.0 % of stop
    epochs).  A second round then studied the failures of both of those sets: ``noisy_validation_visible`` /
    ``noisy_validation_level``, ``large_gap_relative``, the lower ``overfit_rise`` and
    ``overfit_rise_relative`` and the bottom-region stop (:func:`_locate_minimum`) come from it, and were
    measured once, unchanged, on ``tests/data/curve_runs_fresh`` (other seeds again).  Fractions of "the loss range" are
    fractions of the y-range a plot of both curves would show, because that is what the eye judges a gap against.
    """

    min_epochs: int = 5
    """Fewer epochs than this is not a curve: no trend, minimum or noise level can be told apart."""

    smooth_fraction: float = 0.1
    """Width of the median-then-mean smoothing window, as a fraction of the epochs (at least 3, at
    most 51 epochs).  A tenth of the run removes epoch-to-epoch jitter but keeps a minimum that lasts
    a tenth of training.  It gives the trends that the noise levels and the loss range are measured
    against; the minimum (``best_epoch``) is found with a noise-adapted width instead (:func:`cv_smooth`)."""

    tail_fraction: float = 0.25
    """The part of the run at the end (at least 4 epochs) over which "still decreasing at the end"
    and the final levels are measured, with a robust (Theil-Sen) line fit.  A quarter is long enough
    to average out noise and short enough to describe the end of the plot rather than its middle."""

    flat_improvement: float = 0.15
    """Underfit (flat line): the training loss at the end is less than 15 % below where it started
    (the median of the first three epochs, so that a single exploding first epoch does not count as
    learning).  A model that learns cuts its loss far more: on the real runs of tests/data/curve_runs
    good fits improve by 40-98 % and overfitting runs by 80-100 %, while models without capacity or
    with a far too small or too large learning rate move less than 10 %.  Without a reference for
    "relatively high" (the chance-level loss is not in the history) a model that gets stuck after a
    quick initial drop from a bad initialisation can look like a fast good fit.  (Validation loss
    below training loss is checked first: a hard, noisy training set also keeps training loss high.)"""

    still_falling: float = 0.07
    """Underfit (stopped too early): the last ``tail_fraction`` of the run still brought at least
    7 % of the total improvement so far.  A curve levelling off exponentially brings 10 % in its last
    quarter after 2 time constants and 6 % after 3 (by then it has made 95 % of its progress); a
    straight decline brings 25 %."""

    still_falling_level: float = 0.35
    """Underfit (stopped too early), second way: over the last ``tail_fraction`` both losses still fell
    by at least 35 % of their final level.  Losses heading for zero (cross-entropy on separable data)
    make most of their total improvement in the first epochs, so the share above stays small while
    the loss still halves every few epochs; falling by a third of its level in the last quarter is
    plainly still learning (the real good-fit runs stay below ~25 % on the validation loss)."""

    overfit_rise_z: float = 3.0
    """Overfit: the validation loss at the end (a robust line through the last ``tail_fraction``) lies
    above its minimum (a 3-epoch median) by at least 3 standard errors - the curve's epoch-to-epoch
    noise times sqrt(1/3 + 1/tail epochs) - so that noise alone is an unlikely explanation."""

    overfit_rise: float = 0.015
    """Overfit: ... and by at least 1.5 % of the loss range - a rise a reader can see in the plot, not a
    wiggle of a curve that has reached its point of stability.  (Was 2 %: an overfitting run of
    tests/data/curve_runs_final, var_overfit_6, rose 1.9 % of its range, 7 standard errors and 5 % above its
    minimum, and was read as an unrepresentative training set.  Runs of other causes whose validation loss
    drifts up by 3 standard errors - small training sets under weight decay - rise 0.5-2 % of the range too,
    so this test does not separate them whatever its level; ``overfit_rise_relative`` does.)"""

    overfit_rise_relative: float = 0.03
    """Overfit: ... and by at least 3 % of the minimum's value - a material loss of generalisation.  (Was
    5 %: memorising networks on noisy labels end with a validation cross-entropy near chance level, so a
    turn-up of 7-160 standard errors can be only 3.4-4.6 % of the minimum; three such runs of the held-out
    and final sets were read as an unrepresentative training set.  Runs trained on too few examples whose
    validation loss drifts up significantly - which these thresholds must keep out of "overfit" - rise at
    most 2.35 % in the three seen sets; 3 % leaves a margin of a quarter above that.  Four such runs rose
    8-13 %, are read as overfitting under either level, and their hidden true loss rose 6-12 % as well.)"""

    erratic_training: float = 0.05
    """Underfit (noisy values of a relatively high loss): the training loss - an average over a whole
    epoch of batches, which is smooth when optimisation is stable - jumps around its trend by an RMS of
    at least 5 % of the loss range ...  On tests/data/curve_runs and curve_runs_heldout the runs with a
    far too large learning rate reach 0.056-0.068, every run with another cause that gets past rule 1
    stays below 0.04 (the noisiest: an overfitting MLP trained with plain SGD on batches of 4)."""

    erratic_improvement: float = 0.5
    """... while the training loss has not even halved (``train_improvement`` below 50 %): the loss stays
    "relatively high".  Learning runs improve by 40-100 %, most by far more than half."""

    noisy_validation: float = 0.06
    """Unrepresentative validation (noisy): the validation loss jumps around its own smoothed trend
    by an RMS of at least 6 % of the loss range shown in the plot - movements a reader sees as erratic."""

    noisy_validation_visible: float = 0.03
    """... or (second way) by at least 3 % of the loss range - half the above, still visible in the plot - ..."""

    noisy_validation_level: float = 1.0
    """... while its RMS jumps are as large as the validation loss itself (its median smoothed level after the
    first tenth): the curve swings between about zero and twice its level, "noisy movements around the
    training loss".  Measured against the loss range alone, such a curve can look quiet when the first epochs
    make the range large and the loss then falls close to zero (cross-entropy on an easy task): two runs of
    tests/data/curve_runs_final with 8-12 validation samples had 5.3-5.7 % of the range but 1.4-1.9 times their
    level.  A validation loss averaged over n examples has a relative error of (per-example spread / mean) /
    sqrt(n); near-zero cross-entropy has a per-example spread many times its mean (a few wrong examples carry
    all of it), so 8-16 examples give relative jumps of order 1, 400-500 examples at most ~0.8 (the good-fit
    runs of all three seen sets: <= 0.81; tiny-validation runs: 0.09-52, most above 1)."""

    noisy_validation_ratio: float = 2.5
    """... and at least 2.5 times as much as the training loss does around its trend: the noise is a
    property of the validation set (too few examples), not of the optimisation."""

    noisy_overfit_z: float = 8.0
    """... unless the validation loss rises after its minimum by at least 8 standard errors (and
    passes the other overfit tests): a trend that large is not what too few validation examples do -
    it is overfitting seen through a noisy curve (evidence still mentions the noise).  The tiny-validation
    runs of tests/data/curve_runs reach at most 3.3; a heavily overfitting spirals run of the held-out
    set with a 400-example but noisy validation curve reached 17 and was called unrepresentative."""

    val_below_fraction: float = 0.8
    """Unrepresentative validation (easier): validation loss below training loss in at least 80 % of
    the epochs after the first tenth ("throughout", allowing a few crossings)."""

    val_below_margin: float = 0.15
    """... by a median margin of at least 15 % of the training loss: the training loss is clearly higher
    (a good fit's curves lie within a few percent of each other) ..."""

    val_below_range: float = 0.05
    """... and of at least 5 % of the loss range, so that it is visible in the plot (near-zero losses
    can differ by a large percentage and still lie on top of each other)."""

    large_gap: float = 0.1
    """Unrepresentative training set: at the end, validation loss exceeds training loss by at least
    10 % of the loss range (a tenth of the plot's height, a gap the eye notices).  A good fit's "small
    gap" is a few percent of it: at most 5 % on the real good-fit runs, at least 10 % on the runs
    trained on too few or too narrow examples."""

    large_gap_relative: float = 0.1
    """... and validation loss at the end is at least 10 % above training loss, as a share of the validation
    loss (``gap_relative``): a gap that is large for the loss, not only for a plot whose range is small
    because the model barely learned.  A run stopped early that had cut its loss by only 20 % showed a gap of
    24 % of its (small) range but 8 % of its level (tests/data/curve_runs_final, underfit_early_15); the runs
    trained on too few or too narrow examples in the three seen sets show 14.5-100 %."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if getattr(self, f.name) <= 0:
                raise ValueError(f"Thresholds.{f.name} must be positive, got {getattr(self, f.name)}")
        if self.min_epochs < 3:
            raise ValueError("Thresholds.min_epochs must be at least 3")


@dataclass
class Diagnosis:
    """The reading of one pair of learning curves.

    ``verdict`` is one of :data:`VERDICTS`; ``best_epoch`` is the epoch (as numbered in the history)
    where the smoothed validation loss bottoms out - the point to stop an overfitting run - or None
    without validation data; ``evidence`` are the measurements that decided, in words; ``advice`` is
    what to try next; ``scores`` holds every measured feature (see :func:`measure`).
    """

    verdict: Verdict
    best_epoch: int | float | None
    evidence: list[str]
    advice: list[str]
    scores: dict[str, float] = field(default_factory=dict)
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``gradwise diagnose --format json`` (see api.md, "Command line")."""
        return {
            "verdict": self.verdict,
            "best_epoch": self.best_epoch,
            "evidence": list(self.evidence),
            "advice": list(self.advice),
            # JSON has no NaN/inf: a non-finite score (none is expected) becomes null
            "scores": {k: (round(v, 6) if math.isfinite(v) else None) if isinstance(v, float) else v
                       for k, v in self.scores.items()},
            "source": self.source,
        }

    def __str__(self) -> str:
        lines = [f"verdict:    {self.verdict}",
                 f"best epoch: {self.best_epoch if self.best_epoch is not None else '-'}", "evidence:"]
        lines += [f"  - {e}" for e in self.evidence]
        lines += ["advice:"] + [f"  - {a}" for a in self.advice]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- signal helpers
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


def _locate_minimum(v: np.ndarray) -> tuple[int, int]:
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


def _window(n: int, fraction: float, minimum: int, maximum: int) -> int:
    w = int(round(n * fraction))
    w = max(minimum, min(maximum, w, n))
    return w if w % 2 == 1 or w == n else w + 1


# ----------------------------------------------------------------------------- features
def measure(history: LossHistory, th: Thresholds) -> dict[str, Any]:
    """The features the rules look at (all scale-free), plus the levels quoted in the evidence.

    ``train_improvement``   1 - (training loss at the end) / (training loss at the start)
    ``train_tail_share``    share of the training loss's total improvement made in the last ``tail_fraction``
    ``train_tail_rel``      drop of the training loss over the last ``tail_fraction`` / its final level
    ``val_tail_share``, ``val_tail_rel``  the same for the validation loss
    ``val_best``            the validation minimum (3-epoch median and mean at ``best_epoch``, :func:`_locate_minimum`)
    ``val_min_half_width``  the smoothing half-width (epochs) cross-validation chose to locate it
    ``val_rise``            (end level - minimum) of the validation loss / minimum
    ``val_rise_range``      (end level - minimum) / loss range
    ``val_rise_z``          (end level - minimum) / its standard error (noise x sqrt(1/3 + 1/tail epochs))
    ``train_fall_after_best`` how much training loss fell after the validation minimum, / loss range
    ``val_noise``, ``train_noise``  RMS of each curve around its smoothed trend, / loss range
    ``val_noise_level``     the validation curve's RMS noise / its own level (median smoothed value after the first tenth)
    ``val_below_fraction``  how often validation loss < training loss (end-of-epoch aligned, see below)
    ``val_below_margin``    median of (training - validation) / training loss over those epochs
    ``val_below_range``     median of (training - validation) over those epochs / loss range
    ``gap``                 (validation - training) at the end, / loss range
    ``gap_relative``        (validation - training) at the end, / validation loss at the end

    "Start" is the median of the first three epochs (one exploding epoch is not a starting level);
    "end" is the value of a robust line fitted to the last ``tail_fraction`` of the run; the "loss
    range" is the height of a plot of both curves (from the highest first-epoch or smoothed value to
    the lowest smoothed value).  Noise is measured after the first tenth of the run, because no
    smoother follows the sharp bend of the first epochs.  Training losses logged by Keras, Lightning
    and gradwise are averages over the epoch, i.e. they describe its middle, while the validation loss
    is measured at its end; for comparing the two, the training loss is moved to the end of the epoch
    by averaging it with the next epoch's.
    """
    t = np.asarray(history["loss"], dtype=float)
    n = len(t)
    w = _window(n, th.smooth_fraction, 3, 51)
    m = max(4, min(n, int(round(n * th.tail_fraction))))
    skip = max(1, n // 10)
    t_s = smooth(t, w)
    t_start = float(np.median(t[:3]))
    t_slope, t_end = theil_sen(t[-m:])
    t_drop = -t_slope * (m - 1)
    f: dict[str, Any] = {
        "epochs": n, "smooth_window": w, "tail_epochs": m,
        "train_start": t_start, "train_end": t_end,
        "train_improvement": (t_start - t_end) / t_start if t_start > 0 else 0.0,
        "train_tail_drop": t_drop,
        # improvements below `flat_improvement` count as that size, so that a curve that hardly moved
        # cannot be "still falling" by a large share of nothing
        "train_tail_share": t_drop / max(t_start - t_end, th.flat_improvement * t_start, 1e-12),
        "train_tail_rel": t_drop / max(t_end, 1e-12),
    }
    if "val_loss" not in history:
        top, bottom = max(t[0], t_start, float(t_s.max())), float(t_s.min())
        span = max(top - bottom, 1e-12 * max(abs(top), 1.0))
        f["train_noise"] = float(np.sqrt(np.mean((t - t_s)[skip:] ** 2))) / span
        return f
    v = np.asarray(history["val_loss"], dtype=float)
    v_s = smooth(v, w)
    k, k_half = _locate_minimum(v)
    v_best = float(smooth(v, 3)[k])   # a light, spike-proof level at the stop (a wide smoothing fills a sharp V)
    v_start = float(np.median(v[:3]))
    v_slope, v_end = theil_sen(v[-m:])
    v_drop = -v_slope * (m - 1)
    top = max(t[0], v[0], t_start, v_start, float(t_s.max()), float(v_s.max()))
    bottom = min(float(t_s.min()), float(v_s.min()))
    span = max(top - bottom, 1e-12 * max(abs(top), 1.0))
    v_noise = float(np.sqrt(np.mean((v - v_s)[skip:] ** 2)))
    t_noise = float(np.sqrt(np.mean((t - t_s)[skip:] ** 2)))
    t_aligned = np.append((t[:-1] + t[1:]) / 2, t[-1])
    below = (t_aligned - v)[skip:]
    f.update({
        "val_start": v_start, "val_end": v_end, "val_best": v_best, "val_best_index": k,
        "val_min_half_width": k_half,
        "loss_range": span,
        "val_tail_drop": v_drop,
        "val_tail_share": v_drop / max(v_start - v_end, th.flat_improvement * v_start, 1e-12),
        "val_tail_rel": v_drop / max(v_end, 1e-12),
        "val_rise": (v_end - v_best) / max(v_best, 1e-12),
        "val_rise_range": (v_end - v_best) / span,
        # rise in units of its standard error: the minimum averages 3 epochs and the end level m epochs
        # of a curve with this noise
        "val_rise_z": (v_end - v_best) / max(v_noise * np.sqrt(1 / 3 + 1 / m), 1e-12 * span),
        "train_fall_after_best": (float(t_s[k]) - t_end) / span,
        "val_noise": v_noise / span,
        # noise relative to the validation loss's own level (its median smoothed value after the first tenth)
        "val_noise_level": v_noise / max(float(np.median(v_s[skip:])), 1e-12),
        "train_noise": t_noise / span,
        "val_below_fraction": float(np.mean(below > 0)),
        "val_below_margin": float(np.median(below / np.maximum(t_aligned[skip:], 1e-12))),
        "val_below_range": float(np.median(below)) / span,
        "gap": (v_end - t_end) / span,
        "gap_relative": (v_end - t_end) / max(v_end, 1e-12),
    })
    return f


# ----------------------------------------------------------------------------- the diagnosis
def curves(history_or_path: Any, *, thresholds: Thresholds | Mapping[str, float] | None = None) -> Diagnosis:
    """Diagnose a training run from its per-epoch training and validation losses.

    ``history_or_path`` is a path understood by :func:`~gradwise.diagnose.read_history`, a dict of
    per-epoch lists (``{"loss": [...], "val_loss": [...], "epoch": [...]}``), or any object with a
    ``records`` list of per-epoch dicts (gradwise's ``History``).  ``thresholds`` overrides
    :class:`Thresholds` (an instance, or a dict of field names to values).

    Raises ``ValueError`` (naming the source) for histories that are too short, contain NaN/inf or
    negative losses, or lack the validation loss a verdict would need: a history without validation
    data is diagnosed for underfitting only (flat or still-falling training loss), since telling good
    fit, overfitting and unrepresentative data apart needs the validation curve.
    """
    th = _thresholds(thresholds)
    h = history_from_object(history_or_path, source=_describe(history_or_path))
    _check(h, th)
    f = measure(h, th)
    epochs = h["epoch"]
    ev = _Evidence(h, f, th)
    best = epochs[f["val_best_index"]] if h.has_validation else None

    def result(verdict: str, evidence: list[str], advice: list[str]) -> Diagnosis:
        return Diagnosis(verdict, best, evidence, advice, _public_scores(f), h.source)  # type: ignore[arg-type]

    # 1. validation loss lower than training loss throughout
    if (h.has_validation and f["val_below_fraction"] >= th.val_below_fraction
            and f["val_below_margin"] >= th.val_below_margin and f["val_below_range"] >= th.val_below_range):
        return result("unrepresentative_validation", [ev.val_below()], [
            "The validation set seems easier than the training set: check how it was split (leakage, duplicates, "
            "a different distribution, cleaner labels) and use a larger, randomly drawn split or k-fold "
            "cross-validation.",
            "Dropout, augmentation or noise applied only during training also raise the training loss; compare "
            "with the training loss measured in eval mode before concluding.",
        ])
    # 2. flat line / noisy values at a relatively high loss
    if f["train_improvement"] < th.flat_improvement:
        return result("underfit", [ev.train_flat()] + ev.validation_summary(), [
            "Give the model more capacity (wider or deeper layers, a better-suited architecture or features): "
            "it cannot fit even the training data.",
            "Check the learning rate: far too small and nothing moves, far too large and the loss bounces at a high "
            "level. Check the activations too (dead ReLUs, saturated sigmoids) and that inputs and labels match.",
        ])
    # 2b. noisy values at a relatively high loss: unstable optimisation
    if f["train_noise"] >= th.erratic_training and f["train_improvement"] < th.erratic_improvement:
        return result("underfit", [ev.train_erratic()] + ev.validation_summary(), [
            "Lower the learning rate (by 3-10x) or use a larger batch: the training loss jumps around at a high "
            "level, so the updates overshoot instead of descending.",
            "Check the inputs are normalized and consider gradient clipping; then give the model more capacity if "
            "the loss still stays high.",
        ])
    if not h.has_validation:
        if _still_falling(f, th, "train"):
            return result("underfit", [ev.train_still_falling(), ev.no_validation()], [
                "Train for more epochs: the training loss is still falling at the end (or raise the learning rate).",
                "Log a validation loss too: it is needed to tell good fit, overfitting and unrepresentative data apart.",
            ])
        raise ValueError(
            f"{h.source}: the training loss learned and levelled off ({ev.train_flat()}), so the run is not "
            "underfitting, but the history has no validation loss - it is needed to tell a good fit from "
            "overfitting or an unrepresentative dataset. Log val_loss (a validation split or loader) and rerun.")
    # 3. validation curve noisy around the training curve
    strong_rise = _validation_rises(f, th) and f["val_rise_z"] >= th.noisy_overfit_z
    if (_validation_noisy(f, th) and f["val_noise"] >= th.noisy_validation_ratio * f["train_noise"]
            and not strong_rise):
        evidence = [ev.val_noisy(), ev.gap()]
        if _validation_rises(f, th):
            evidence.append(ev.noisy_rise(best))
        return result("unrepresentative_validation", evidence, [
            "Use a larger validation split (e.g. 20-30 % of the data), evaluate on all of it every epoch, or use "
            "k-fold cross-validation: too few validation examples make the curve erratic.",
            "Judge the run by the smoothed validation curve until then.",
        ])
    # 4. validation loss decreases to a point and begins increasing again
    if _validation_rises(f, th) and f["train_fall_after_best"] > 0:
        noisy = [ev.val_noisy()] if f["val_noise"] >= th.noisy_validation else []
        return result("overfit", [ev.val_rise(best), ev.train_after_best(best)] + noisy, [
            f"Stop at epoch {best}: use early stopping on the validation loss (with some patience) or keep the "
            "checkpoint of that epoch.",
            "Regularize: weight decay (L2), dropout, a smaller model.",
            "Augment the training data or collect more of it.",
        ])
    # 5. a large gap remains while both improve
    if f["gap"] >= th.large_gap and f["gap_relative"] >= th.large_gap_relative:
        return result("unrepresentative_train", [ev.gap(), ev.val_improved()], [
            "Get more training data, or make it representative of the validation data (same classes, ranges and "
            "conditions; shuffle before splitting, stratify by class).",
            "Meanwhile regularize (weight decay, dropout) and augment the training data to narrow the gap.",
        ])
    # 6. still decreasing at the end of the plot
    if _still_falling(f, th, "train") and _still_falling(f, th, "val"):
        return result("underfit", [ev.train_still_falling(), ev.val_still_falling()], [
            "Train for more epochs: both losses are still falling at the end (or raise the learning rate / use a "
            "faster solver).",
        ])
    # 7. both stable with a small gap
    return result("good_fit", [ev.train_stable(), ev.val_stable(best), ev.gap()], [
        f"Good fit: keep this setup; the validation loss is lowest around epoch {best}.",
        "Further gains need a better model or more data rather than more epochs.",
    ])


def _still_falling(f: dict[str, Any], th: Thresholds, curve: str) -> bool:
    """Is the ``curve`` ("train" or "val") loss still clearly falling at the end of the run?"""
    return f[f"{curve}_tail_share"] >= th.still_falling or f[f"{curve}_tail_rel"] >= th.still_falling_level


def _validation_noisy(f: dict[str, Any], th: Thresholds) -> bool:
    """Does the validation loss jump around its trend enough to be called noisy (rule 3's first part)?"""
    return f["val_noise"] >= th.noisy_validation or (
        f["val_noise"] >= th.noisy_validation_visible and f["val_noise_level"] >= th.noisy_validation_level)


def _validation_rises(f: dict[str, Any], th: Thresholds) -> bool:
    """Has the validation loss clearly turned up after its minimum (significant, visible, material)?"""
    return (f["val_rise_z"] >= th.overfit_rise_z and f["val_rise_range"] >= th.overfit_rise
            and f["val_rise"] >= th.overfit_rise_relative)


# ----------------------------------------------------------------------------- evidence in words
class _Evidence:
    """Sentences quoting the numbers that decided, for a student reading the verdict."""

    def __init__(self, h: LossHistory, f: dict[str, Any], th: Thresholds) -> None:
        self.h, self.f, self.th = h, f, th
        ep = h["epoch"]
        self.tail = f"the last {f['tail_epochs']} epochs ({ep[-f['tail_epochs']]}-{ep[-1]})"

    def train_flat(self) -> str:
        f = self.f
        return (f"training loss went from {f['train_start']:.4g} to {f['train_end']:.4g}, only "
                f"{f['train_improvement']:.0%} lower (a model that learns improves by far more than "
                f"{self.th.flat_improvement:.0%})" if f["train_improvement"] < self.th.flat_improvement else
                f"training loss went from {f['train_start']:.4g} to {f['train_end']:.4g} "
                f"({f['train_improvement']:.0%} lower)")

    def train_erratic(self) -> str:
        f = self.f
        return (f"training loss jumps around its trend by {f['train_noise']:.0%} of the loss range (RMS) and ended "
                f"only {f['train_improvement']:.0%} below its start ({f['train_start']:.4g} -> {f['train_end']:.4g}): "
                "noisy values at a relatively high loss")

    def train_still_falling(self) -> str:
        f = self.f
        return (f"over {self.tail} training loss still fell by {f['train_tail_drop']:.4g}: "
                f"{f['train_tail_share']:.0%} of its whole improvement and {f['train_tail_rel']:.0%} of its final "
                "level - it had not levelled off")

    def val_still_falling(self) -> str:
        f = self.f
        return (f"validation loss also still fell by {f['val_tail_drop']:.4g} over {self.tail} "
                f"({f['val_tail_share']:.0%} of its improvement, {f['val_tail_rel']:.0%} of its final level), so "
                "more epochs should still help")

    def train_stable(self) -> str:
        f = self.f
        return (f"training loss fell from {f['train_start']:.4g} to {f['train_end']:.4g} and levelled off "
                f"(the last {f['tail_epochs']} epochs brought {max(f['train_tail_share'], 0):.0%} of the improvement)")

    def val_stable(self, best: Any) -> str:
        f = self.f
        return (f"validation loss fell from {f['val_start']:.4g} to {f['val_end']:.4g} and stayed there "
                f"(smoothed curve lowest {f['val_best']:.4g} at epoch {best}, end only {max(f['val_rise'], 0):.0%} above it)")

    def val_rise(self, best: Any) -> str:
        f = self.f
        return (f"validation loss (smoothed) bottomed out at {f['val_best']:.4g} at epoch {best} and then rose "
                f"to {f['val_end']:.4g}: {f['val_rise']:.0%} above its best, {f['val_rise_range']:.0%} of the loss range, "
                f"{f['val_rise_z']:.1f} times the uncertainty its epoch-to-epoch noise leaves")

    def train_after_best(self, best: Any) -> str:
        f = self.f
        return (f"meanwhile training loss kept falling, to {f['train_end']:.4g} at the end: the model is learning "
                f"the training set's noise after epoch {best}")

    def val_noisy(self) -> str:
        f = self.f
        return (f"validation loss jumps around its trend by {f['val_noise']:.0%} of the loss range (RMS; "
                f"{f['val_noise_level']:.0%} of its own level), "
                f"{f['val_noise'] / max(f['train_noise'], 1e-12):.1f} times as much as training loss does")

    def noisy_rise(self, best: Any) -> str:
        f = self.f
        return (f"the smoothed validation curve also rises after epoch {best} ({f['val_rise']:.0%} above its minimum): "
                "the run may be overfitting as well, which a larger validation set would show reliably")

    def val_below(self) -> str:
        f = self.f
        return (f"validation loss was below training loss in {f['val_below_fraction']:.0%} of the epochs (after the "
                f"first tenth), typically by {f['val_below_margin']:.0%} of the training loss "
                f"({f['val_below_range']:.0%} of the loss range): the validation set looks easier")

    def gap(self) -> str:
        f = self.f
        size = "large" if f["gap"] >= self.th.large_gap and f["gap_relative"] >= self.th.large_gap_relative else "small"
        return (f"at the end validation loss is {f['val_end']:.4g} and training loss {f['train_end']:.4g}: a {size} "
                f"gap of {f['gap']:.0%} of the loss range ({f['gap_relative']:.0%} of the validation loss)")

    def val_improved(self) -> str:
        f = self.f
        return (f"validation loss improved from {f['val_start']:.4g} to {f['val_end']:.4g} and did not turn up "
                f"(end {max(f['val_rise'], 0):.0%} above its best), so this is not overfitting but too little "
                "information in the training set")

    def validation_summary(self) -> list[str]:
        if not self.h.has_validation:
            return [self.no_validation()]
        f = self.f
        return [f"validation loss went from {f['val_start']:.4g} to {f['val_end']:.4g}"]

    def no_validation(self) -> str:
        return ("the history has no validation loss: only underfitting can be judged from the training curve; "
                "good fit, overfitting and unrepresentative data need the validation curve")


# ----------------------------------------------------------------------------- input handling
def _thresholds(th: Thresholds | Mapping[str, float] | None) -> Thresholds:
    if th is None:
        return Thresholds()
    if isinstance(th, Thresholds):
        return th
    names = {f.name for f in dataclasses.fields(Thresholds)}
    unknown = sorted(set(th) - names)
    if unknown:
        raise ValueError(f"unknown threshold(s) {unknown}; known: {sorted(names)}")
    return Thresholds(**th)


def _describe(obj: Any) -> str:
    if isinstance(obj, (str, Path)):
        return str(obj)
    return f"<{type(obj).__name__} history>"


def _check(h: LossHistory, th: Thresholds) -> None:
    n = len(h["loss"])
    if n < th.min_epochs:
        raise ValueError(f"{h.source}: only {n} epoch(s) of training loss; at least {th.min_epochs} are needed to "
                         "see a trend in a learning curve")
    for key in ("loss", "val_loss"):
        if key not in h:
            continue
        values = np.asarray(h[key], dtype=float)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise ValueError(f"{h.source}: {key} is {values[bad[0]]} at epoch {h['epoch'][bad[0]]} - the run diverged "
                             "or logged a broken value")
        if values.min() < 0:
            raise ValueError(f"{h.source}: {key} is negative ({values.min():.4g}); the diagnosis assumes losses >= 0 "
                             "with 0 = perfect (MSE, cross-entropy, NLL, BCE, L1)")
    if list(h["epoch"]) != sorted(set(h["epoch"])):
        raise ValueError(f"{h.source}: epoch numbers are not strictly increasing")


def _public_scores(f: dict[str, Any]) -> dict[str, float]:
    return {k: (float(v) if not isinstance(v, (int, np.integer)) else int(v)) for k, v in f.items()}
