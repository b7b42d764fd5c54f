"""The numbers the rule cascade compares features against, each with the reasoning for its default.

Kept apart from the rules (:mod:`gradwise.diagnose.rules`) and the features (:mod:`gradwise.diagnose.features`)
so that a reader can check every threshold against the evidence it was set on, and so that callers can
override them (``curves(h, thresholds={"large_gap": 0.3})``).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

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

    val_below_margin: float = 0.10
    """... by a median margin of at least 10 % of the training loss: the training loss is clearly higher
    (a good fit's curves lie within a few percent of each other) ...  (Was 15 %: on the generated corpus
    (bench/diagnose_corpus, development families) validation sets drawn from the easiest part of the data and
    training-only label noise gave margins of 10-14 % in 90-100 % of the epochs and were read as good fits;
    10 % raised the cascade's leave-one-family-out accuracy from 90.7 % to 91.1 % and changed no verdict of the
    older sets.)"""

    val_below_range: float = 0.05
    """... and of at least 5 % of the loss range, so that it is visible in the plot (near-zero losses
    can differ by a large percentage and still lie on top of each other)."""

    val_below_clear_fraction: float = 0.9
    """Unrepresentative validation (easier), without the plot test: validation loss below training loss in at
    least 90 % of the epochs after the first tenth ..."""

    val_below_clear_margin: float = 0.25
    """... by a median margin of at least 25 % of the training loss.  A curve that lies a quarter below the
    training loss nearly throughout is the picture even when both sit near the bottom of a plot whose range the
    first epochs made tall (a validation set of 8 samples, or one drawn from the easiest fifth, read as good
    fits by the range test alone; on the 711 verified development runs this reads 4 more right, 1 more wrong)."""

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

    level_improvement: float = 0.7
    """Underfitting by capacity (rule 6b): both curves levelled off together after the training loss fell by
    less than 70 % of its start ...  A model that can fit its data cuts its loss by far more (the development
    corpus's verified good fits: 10th percentile 64 %, and none of them together with the next condition)."""

    level_gap_relative: float = 0.05
    """... and the validation loss ends within 5 % of the training loss (``|gap_relative|``): the model does no
    better on the examples it trains on than on unseen ones - it cannot fit even its training data.  Models with
    the capacity to fit leave a gap (the verified good fits: 10th percentile 4 %, median 21 %); one-unit and
    linear models on the development corpus leave about 1 %."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if getattr(self, f.name) <= 0:
                raise ValueError(f"Thresholds.{f.name} must be positive, got {getattr(self, f.name)}")
        if self.min_epochs < 3:
            raise ValueError("Thresholds.min_epochs must be at least 3")


def as_thresholds(th: "Thresholds | Mapping[str, float] | None") -> Thresholds:
    """``None`` -> the defaults; a mapping of field names -> values overrides them (unknown names are an error)."""
    if th is None:
        return Thresholds()
    if isinstance(th, Thresholds):
        return th
    names = {f.name for f in dataclasses.fields(Thresholds)}
    unknown = sorted(set(th) - names)
    if unknown:
        raise ValueError(f"unknown threshold(s) {unknown}; known: {sorted(names)}")
    return Thresholds(**th)
