"""What the diagnosis measures on a pair of learning curves: one frozen :class:`Features` per run.

Every feature is scale-free (a ratio, a share, a z-score or a count), so that one set of thresholds and one
learned scorer serve cross-entropy near 0.01 and MSE near 30 alike.  The levels quoted in the evidence
(``train_start``, ``val_end`` ...) are kept too, each labelled by how it was read: *raw* values are numbers
that appear in the history file; *smoothed* ones come from a fit and are always called so in words.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from gradwise.diagnose.history_io import LossHistory
from gradwise.diagnose.smoothing import locate_minimum, mean3, smooth, theil_sen, window
from gradwise.diagnose.thresholds import Thresholds

NAN = float("nan")


@dataclass(frozen=True)
class Features:
    """The measurements of one run (see :func:`measure` for how each is made).

    Fields that need a validation curve are NaN without one (``has_validation`` False)."""

    epochs: int
    smooth_window: int
    tail_epochs: int
    has_validation: bool
    # training curve
    train_start: float            # median of the first three raw values
    train_end: float              # robust (Theil-Sen) line through the tail, at the last epoch: smoothed
    train_first_raw: float        # raw value at the first epoch in the file
    train_last_raw: float         # raw value at the last epoch in the file
    train_min_raw: float
    train_improvement: float      # 1 - end / start
    train_tail_drop: float
    train_tail_share: float       # share of the whole improvement made in the tail
    train_tail_rel: float         # tail drop / final level
    train_noise: float            # RMS around the smoothed trend / loss range
    # validation curve
    val_start: float = NAN
    val_end: float = NAN
    val_first_raw: float = NAN
    val_last_raw: float = NAN
    val_best: float = NAN         # 3-epoch median at the trend's minimum (smoothed)
    val_best_index: int = -1      # index of the trend's minimum: the stop epoch (smoothing.locate_minimum)
    stop_mean3: float = NAN       # 3-epoch mean of the raw values at the stop epoch
    best_index: int = -1          # index of the best epoch: lowest raw validation loss (best.best_epoch)
    best_raw: float = NAN         # the raw validation loss there (its minimum)
    val_min_half_width: int = 0
    loss_range: float = NAN
    val_improvement: float = NAN  # 1 - val_end / val_start
    val_tail_drop: float = NAN
    val_tail_share: float = NAN
    val_tail_rel: float = NAN
    val_rise: float = NAN         # (end - trend minimum) / minimum
    val_rise_range: float = NAN   # (end - trend minimum) / loss range
    val_rise_z: float = NAN       # (end - trend minimum) / its standard error
    best_position: float = NAN    # index of the stop epoch / (epochs - 1)
    train_fall_after_best: float = NAN
    val_noise: float = NAN
    val_noise_level: float = NAN
    val_below_fraction: float = NAN
    val_below_margin: float = NAN
    val_below_range: float = NAN
    gap: float = NAN
    gap_relative: float = NAN
    gap_log: float = NAN          # log(validation end / training end): memorisation drives it far above 0
    val_lost_share: float = NAN   # (end - trend minimum) / (start - trend minimum): share of its improvement given back
    train_log_ratio: float = NAN  # log10(lowest raw training loss / training start): how close to zero training got
    val_train_progress: float = NAN  # validation's improvement / training's: far below 1 when training teaches little
    rise_over_gap: float = NAN    # (end - trend minimum) / |validation - training at the end|
    train_settle: float = NAN     # share of the run before the smoothed training loss came within 10 % of its fall
    # accuracy curves, where the file has both (classification runs that log them): bounded, so a gap in accuracy
    # is comparable across tasks where a gap in cross-entropy is not; NaN / False without them
    has_accuracy: bool = False
    train_accuracy_end: float = NAN   # mean training accuracy over the tail epochs (a fraction, 0..1)
    accuracy_gap: float = NAN         # training - validation accuracy, tail means: the generalisation gap
    val_accuracy_drop: float = NAN    # highest 3-epoch mean of validation accuracy - its tail mean: accuracy given back

    def as_dict(self) -> dict[str, Any]:
        """Every field as plain Python numbers (the ``scores`` of a diagnosis)."""
        return {k: (bool(v) if isinstance(v, (bool, np.bool_)) else int(v) if isinstance(v, (int, np.integer))
                    else float(v)) for k, v in asdict(self).items()}

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def measure(history: LossHistory, th: Thresholds | None = None) -> Features:
    """Measure the features of ``history`` (a :class:`LossHistory`; needs >= 3 epochs).

    ``train_improvement``   1 - (training loss at the end) / (training loss at the start)
    ``train_tail_share``    share of the training loss's total improvement made in the last ``tail_fraction``
    ``train_tail_rel``      drop of the training loss over the last ``tail_fraction`` / its final level
    ``val_tail_share``, ``val_tail_rel``  the same for the validation loss
    ``val_best``            the trend's minimum (3-epoch median at the stop epoch)
    ``val_best_index``      the stop epoch: lowest 3-epoch mean inside the smoothed curve's bottom region
    ``best_index``          the best epoch (weights to keep): lowest raw validation loss
    ``val_rise``            (end level - trend minimum) of the validation loss / minimum
    ``val_rise_range``      (end level - trend minimum) / loss range
    ``val_rise_z``          (end level - trend minimum) / its standard error (noise x sqrt(1/3 + 1/tail epochs))
    ``train_fall_after_best`` how much training loss fell after the validation minimum, / loss range
    ``val_noise``, ``train_noise``  RMS of each curve around its smoothed trend, / loss range
    ``val_noise_level``     the validation curve's RMS noise / its own level (median smoothed value after the first tenth)
    ``val_below_fraction``  how often validation loss < training loss (end-of-epoch aligned, see below)
    ``val_below_margin``    median of (training - validation) / training loss over those epochs
    ``val_below_range``     median of (training - validation) over those epochs / loss range
    ``gap``                 (validation - training) at the end, / loss range
    ``gap_relative``        (validation - training) at the end, / validation loss at the end
    ``accuracy_gap``        training - validation accuracy, means over the tail (where both are logged; NaN otherwise)

    "Start" is the median of the first three epochs (one exploding epoch is not a starting level);
    "end" is the value of a robust line fitted to the last ``tail_fraction`` of the run; the "loss
    range" is the height of a plot of both curves (from the highest first-epoch or smoothed value to
    the lowest smoothed value).  Noise is measured after the first tenth of the run, because no
    smoother follows the sharp bend of the first epochs.  Training losses logged by Keras, Lightning
    and gradwise are averages over the epoch, i.e. they describe its middle, while the validation loss
    is measured at its end; for comparing the two, the training loss is moved to the end of the epoch
    by averaging it with the next epoch's.
    """
    th = th or Thresholds()
    t = np.asarray(history["loss"], dtype=float)
    n = len(t)
    w = window(n, th.smooth_fraction, 3, 51)
    m = max(min(4, n), min(n, int(round(n * th.tail_fraction))))
    skip = max(1, n // 10)
    t_s = smooth(t, w)
    t_start = float(np.median(t[:3]))
    t_slope, t_end = theil_sen(t[-m:])
    t_drop = -t_slope * (m - 1)
    base: dict[str, Any] = dict(
        epochs=n, smooth_window=w, tail_epochs=m, has_validation="val_loss" in history,
        train_start=t_start, train_end=t_end, train_first_raw=float(t[0]), train_last_raw=float(t[-1]),
        train_min_raw=float(t.min()),
        train_improvement=(t_start - t_end) / t_start if t_start > 0 else 0.0,
        train_tail_drop=t_drop,
        # improvements below `flat_improvement` count as that size, so that a curve that hardly moved
        # cannot be "still falling" by a large share of nothing
        train_tail_share=t_drop / max(t_start - t_end, th.flat_improvement * t_start, 1e-12),
        train_tail_rel=t_drop / max(t_end, 1e-12),
    )
    if "val_loss" not in history:
        top, bottom = max(t[0], t_start, float(t_s.max())), float(t_s.min())
        span = max(top - bottom, 1e-12 * max(abs(top), 1.0))
        base["train_noise"] = float(np.sqrt(np.mean((t - t_s)[skip:] ** 2))) / span
        base["loss_range"] = span
        return Features(**base)
    v = np.asarray(history["val_loss"], dtype=float)
    v_s = smooth(v, w)
    k, k_half = locate_minimum(v)
    b = int(np.argmin(v))
    v_best = float(smooth(v, 3)[k])   # a light, spike-proof level at the trend's minimum
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
    base.update(
        val_start=v_start, val_end=v_end, val_first_raw=float(v[0]), val_last_raw=float(v[-1]),
        val_best=v_best, val_best_index=k, stop_mean3=float(mean3(v)[k]), best_index=b, best_raw=float(v[b]),
        val_min_half_width=k_half, loss_range=span,
        val_improvement=(v_start - v_end) / v_start if v_start > 0 else 0.0,
        val_tail_drop=v_drop,
        val_tail_share=v_drop / max(v_start - v_end, th.flat_improvement * v_start, 1e-12),
        val_tail_rel=v_drop / max(v_end, 1e-12),
        val_rise=(v_end - v_best) / max(v_best, 1e-12),
        val_rise_range=(v_end - v_best) / span,
        # rise in units of its standard error: the minimum averages 3 epochs and the end level m epochs
        val_rise_z=(v_end - v_best) / max(v_noise * math.sqrt(1 / 3 + 1 / m), 1e-12 * span),
        best_position=k / max(n - 1, 1),
        train_fall_after_best=(float(t_s[k]) - t_end) / span,
        val_noise=v_noise / span,
        val_noise_level=v_noise / max(float(np.median(v_s[skip:])), 1e-12),
        train_noise=t_noise / span,
        val_below_fraction=float(np.mean(below > 0)),
        val_below_margin=float(np.median(below / np.maximum(t_aligned[skip:], 1e-12))),
        val_below_range=float(np.median(below)) / span,
        gap=(v_end - t_end) / span,
        gap_relative=(v_end - t_end) / max(v_end, 1e-12),
        gap_log=math.log(max(v_end, 1e-12) / max(t_end, 1e-12)),
        val_lost_share=(v_end - v_best) / max(v_start - v_best, 1e-12 * span),
        train_log_ratio=math.log10(max(float(t.min()), 1e-12) / max(t_start, 1e-12)),
        val_train_progress=(v_start - v_end) / max(v_start, 1e-12) / max((t_start - t_end) / max(t_start, 1e-12), 0.05),
        rise_over_gap=(v_end - v_best) / max(abs(v_end - t_end), 1e-3 * span),
        train_settle=_settle(t_s, t_start, t_end),
        **_accuracy(history, m),
    )
    return Features(**base)


def _accuracy(history: LossHistory, tail: int) -> dict[str, Any]:
    """The accuracy features over the last ``tail`` epochs, if the history has training and validation accuracy
    with at least three values each (percentages are read as fractions); empty otherwise."""
    if "accuracy" not in history or "val_accuracy" not in history:
        return {}
    a = np.array([np.nan if x is None else x for x in history["accuracy"]], dtype=float)
    v = np.array([np.nan if x is None else x for x in history["val_accuracy"]], dtype=float)
    if np.isfinite(a).sum() < 3 or np.isfinite(v).sum() < 3:
        return {}
    if max(np.nanmax(a), np.nanmax(v)) > 1.5:   # logged in percent
        a, v = a / 100, v / 100
    a_end, v_end = _tail_mean(a, tail), _tail_mean(v, tail)
    return dict(has_accuracy=True, train_accuracy_end=a_end, accuracy_gap=a_end - v_end,
                val_accuracy_drop=float(mean3(v[np.isfinite(v)]).max()) - v_end)


def _tail_mean(x: np.ndarray, tail: int) -> float:
    """Mean of the finite values among the last ``tail``; the last finite value if none is there."""
    finite = x[np.isfinite(x)]
    end = x[-tail:][np.isfinite(x[-tail:])]
    return float(end.mean()) if len(end) else float(finite[-1])


def _settle(curve_s: np.ndarray, start: float, end: float) -> float:
    """Share of the run before the smoothed curve first came within 10 % of its whole fall of the end level."""
    fall = start - end
    if fall <= 0:
        return 0.0
    reached = np.flatnonzero(curve_s <= end + 0.1 * fall)
    return float(reached[0]) / max(len(curve_s) - 1, 1) if len(reached) else 1.0

