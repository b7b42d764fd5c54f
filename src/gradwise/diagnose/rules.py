"""The rule cascade: the lecture's "Training Graphs" as ordered tests on :class:`~gradwise.diagnose.features.Features`.

The first rule that fires gives the reading (thresholds in :class:`~gradwise.diagnose.thresholds.Thresholds`):

1. validation below training in >= ``val_below_fraction`` of the epochs, by
   >= ``val_below_margin`` of the training loss and ``val_below_range`` of
   the loss range (or in >= ``val_below_clear_fraction`` of them by
   >= ``val_below_clear_margin`` of the training loss)                          -> unrepresentative_validation
2. training loss improved by less than ``flat_improvement`` of its start      -> underfit (flat / noisy)
   or jumps around its trend by >= ``erratic_training`` of the loss range while
   improving by less than ``erratic_improvement``                               -> underfit (erratic, lr)
3. validation residual noise > ``noisy_validation`` of the loss range (or > ``noisy_validation_visible`` of it
   and > ``noisy_validation_level`` x its own level) and > ``noisy_validation_ratio`` x the training curve's
   noise, unless it rises after its minimum by >= ``noisy_overfit_z`` standard errors -> unrepresentative_validation
4. validation loss at the end above its (trend) minimum by >= ``overfit_rise_z`` standard errors,
   ``overfit_rise`` of the loss range and ``overfit_rise_relative`` of the minimum, while training loss
   kept falling                                                                -> overfit, keep the best epoch
5. gap between the curves at the end >= ``large_gap`` of the loss range and
   >= ``large_gap_relative`` of the validation loss                              -> unrepresentative_train
6. training and validation loss still falling at the end                       -> underfit (train longer)
6b. training loss fell by less than ``level_improvement`` of its start and the curves end within
   ``level_gap_relative`` of each other                                         -> underfit (capacity)
7. otherwise                                                                    -> good_fit

Each rule returns its evidence (numbers, in words) and advice.  In the evidence a **raw** value - one that is in
the history file - is always written as ``<value> (epoch <E>)``; every other level is called *smoothed* (a
robust line through the last epochs, a median of the first three, a 3-epoch mean) so that the reader can find
each raw number in the file and never mistakes a fitted level for one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gradwise.diagnose.features import Features
from gradwise.diagnose.history_io import LossHistory
from gradwise.diagnose.thresholds import Thresholds


@dataclass(frozen=True)
class Reading:
    """What the cascade concluded: the verdict, the rule (``"2b"``, ``"4"``...), evidence and advice."""

    verdict: str
    rule: str
    evidence: list[str]
    advice: list[str]


def still_falling(f: Features, th: Thresholds, curve: str) -> bool:
    """Is the ``curve`` ("train" or "val") loss still clearly falling at the end of the run?"""
    return getattr(f, f"{curve}_tail_share") >= th.still_falling or getattr(f, f"{curve}_tail_rel") >= th.still_falling_level


def validation_noisy(f: Features, th: Thresholds) -> bool:
    """Does the validation loss jump around its trend enough to be called noisy (rule 3's first part)?"""
    return f.val_noise >= th.noisy_validation or (
        f.val_noise >= th.noisy_validation_visible and f.val_noise_level >= th.noisy_validation_level)


def validation_rises(f: Features, th: Thresholds) -> bool:
    """Has the validation loss clearly turned up after its minimum (significant, visible, material)?"""
    return (f.val_rise_z >= th.overfit_rise_z and f.val_rise_range >= th.overfit_rise
            and f.val_rise >= th.overfit_rise_relative)


def validation_below(f: Features, th: Thresholds) -> bool:
    """Does the validation loss lie clearly below the training loss nearly throughout (rule 1)?"""
    visible = (f.val_below_fraction >= th.val_below_fraction and f.val_below_margin >= th.val_below_margin
               and f.val_below_range >= th.val_below_range)
    clear = f.val_below_fraction >= th.val_below_clear_fraction and f.val_below_margin >= th.val_below_clear_margin
    return visible or clear


def validation_mostly_below(f: Features) -> bool:
    """Does the validation loss lie below the training loss in most epochs (the picture rule 1 reads strictly)?"""
    return f.has_validation and f.val_below_fraction >= 0.5 and f.val_below_margin > 0


ADVICE = {
    "unrepresentative_validation_below": [
        "The validation set seems easier than the training set: check how it was split (leakage, duplicates, "
        "a different distribution, cleaner labels) and use a larger, randomly drawn split or k-fold "
        "cross-validation.",
        "Dropout, augmentation or noise applied only during training also raise the training loss; compare "
        "with the training loss measured in eval mode before concluding.",
    ],
    "underfit_flat": [
        "Give the model more capacity (wider or deeper layers, a better-suited architecture or features): "
        "it cannot fit even the training data.",
        "Check the learning rate: far too small and nothing moves, far too large and the loss bounces at a high "
        "level. Check the activations too (dead ReLUs, saturated sigmoids) and that inputs and labels match.",
    ],
    "underfit_erratic": [
        "Lower the learning rate (by 3-10x) or use a larger batch: the training loss jumps around at a high "
        "level, so the updates overshoot instead of descending.",
        "Check the inputs are normalized and consider gradient clipping; then give the model more capacity if "
        "the loss still stays high.",
    ],
    "underfit_no_validation": [
        "Train for more epochs: the training loss is still falling at the end (or raise the learning rate).",
        "Log a validation loss too: it is needed to tell good fit, overfitting and unrepresentative data apart.",
    ],
    "unrepresentative_validation_noisy": [
        "Use a larger validation split (e.g. 20-30 % of the data), evaluate on all of it every epoch, or use "
        "k-fold cross-validation: too few validation examples make the curve erratic.",
        "Judge the run by the smoothed validation curve until then.",
    ],
    "unrepresentative_train": [
        "Get more training data, or make it representative of the validation data (same classes, ranges and "
        "conditions; shuffle before splitting, stratify by class).",
        "Meanwhile regularize (weight decay, dropout) and augment the training data to narrow the gap.",
    ],
    "below_expected": [
        "To compare like with like, measure the training loss in eval mode (dropout and augmentation off) after an "
        "epoch; if validation still lies clearly below it, check how the validation set was split.",
    ],
    "underfit_still_falling": [
        "Train for more epochs: both losses are still falling at the end (or raise the learning rate / use a "
        "faster solver).",
    ],
}


def overfit_advice(best: Any, stop: Any) -> list[str]:
    return [f"Keep the weights of epoch {best}, where the validation loss is lowest (early stopping on the validation "
            "loss with restore_best_weights, a best-only checkpoint, or gradwise's early_stopping='diagnosis' do it); "
            f"the smoothed validation trend bottoms out around epoch {stop}, where training could be halted.",
            "Regularize: weight decay (L2), dropout, a smaller model.",
            "Augment the training data or collect more of it."]


def good_fit_advice(best: Any) -> list[str]:
    return [f"Good fit: keep this setup and the weights of epoch {best}, where the validation loss is lowest.",
            "Further gains need a better model or more data rather than more epochs."]


def apply_rules(h: LossHistory, f: Features, th: Thresholds, below_expected: bool = False) -> Reading:
    """Run the cascade on the measured features (``h`` only supplies epoch numbers and raw values to quote).

    ``below_expected``: the run is known to train with dropout or augmentation, which make the training loss
    harder than the validation loss - validation below training is then expected, and rule 1 is skipped."""
    ev = Evidence(h, f, th)
    best = ev.best
    if f.has_validation and validation_below(f, th) and not below_expected:
        return Reading("unrepresentative_validation", "1", [ev.val_below()], ADVICE["unrepresentative_validation_below"])
    if f.train_improvement < th.flat_improvement:
        return Reading("underfit", "2", [ev.train_flat()] + ev.validation_summary(), ADVICE["underfit_flat"])
    if f.train_noise >= th.erratic_training and f.train_improvement < th.erratic_improvement:
        return Reading("underfit", "2b", [ev.train_erratic()] + ev.validation_summary(), ADVICE["underfit_erratic"])
    if not f.has_validation:
        if still_falling(f, th, "train"):
            return Reading("underfit", "6t", [ev.train_still_falling(), ev.no_validation()],
                           ADVICE["underfit_no_validation"])
        raise ValueError(
            f"{h.source}: the training loss learned and levelled off ({ev.train_flat()}), so the run is not "
            "underfitting, but the history has no validation loss - it is needed to tell a good fit from "
            "overfitting or an unrepresentative dataset. Log val_loss (a validation split or loader) and rerun.")
    strong_rise = validation_rises(f, th) and f.val_rise_z >= th.noisy_overfit_z
    if validation_noisy(f, th) and f.val_noise >= th.noisy_validation_ratio * f.train_noise and not strong_rise:
        evidence = [ev.val_noisy(), ev.gap()]
        if validation_rises(f, th):
            evidence.append(ev.noisy_rise())
        return Reading("unrepresentative_validation", "3", evidence, ADVICE["unrepresentative_validation_noisy"])
    if validation_rises(f, th) and f.train_fall_after_best > 0:
        noisy = [ev.val_noisy()] if f.val_noise >= th.noisy_validation else []
        return Reading("overfit", "4", [ev.val_rise(), ev.train_after_best()] + noisy, overfit_advice(best, ev.stop))
    if f.gap >= th.large_gap and f.gap_relative >= th.large_gap_relative:
        return Reading("unrepresentative_train", "5", [ev.gap(), ev.val_improved()], ADVICE["unrepresentative_train"])
    if still_falling(f, th, "train") and still_falling(f, th, "val"):
        return Reading("underfit", "6", [ev.train_still_falling(), ev.val_still_falling()],
                       ADVICE["underfit_still_falling"])
    if f.train_improvement < th.level_improvement and abs(f.gap_relative) < th.level_gap_relative:
        return Reading("underfit", "6b", [ev.train_stable(), ev.levelled_together()], ADVICE["underfit_flat"])
    return Reading("good_fit", "7", [ev.train_stable(), ev.val_stable(), ev.gap()], good_fit_advice(best))


def _n(x: float) -> str:
    return f"{x:.4g}"


def _pct(x: float) -> str:
    """A share as a whole percentage, as every evidence sentence quotes one; a tiny negative share is "0%", not
    "-0%"."""
    text = f"{x:.0%}"
    return "0%" if text == "-0%" else text


class Evidence:
    """Sentences quoting the numbers that decided: raw values as ``<value> (epoch <E>)``, others called smoothed."""

    def __init__(self, h: LossHistory, f: Features, th: Thresholds) -> None:
        self.h, self.f, self.th = h, f, th
        ep = h["epoch"]
        self.ep = ep
        self.first, self.last = ep[0], ep[-1]
        self.tail = f"the last {f.tail_epochs} epochs ({ep[-f.tail_epochs]}-{ep[-1]})"
        self.best = ep[f.best_index] if f.has_validation else None
        self.stop = ep[f.val_best_index] if f.has_validation else None

    def _moved(self, curve: str, verb: str) -> str:
        """'<training|validation> loss <verb> from <first> to <last>' - or 'went from', with the smoothed improvement,
        when the raw last value is not below the raw first (a lucky first epoch): the verb agrees with the numbers."""
        f = self.f
        first, last = getattr(f, f"{curve}_first_raw"), getattr(f, f"{curve}_last_raw")
        head = f"{'training' if curve == 'train' else 'validation'} loss"
        span = f"from {_n(first)} (epoch {self.first}) to {_n(last)} (epoch {self.last})"
        if last < first:
            return f"{head} {verb} {span}"
        improvement = _pct(getattr(f, f"{curve}_improvement"))
        return f"{head} went {span} (smoothed, it ended {improvement} below the median of its first three epochs)"

    # --- training curve
    def train_flat(self) -> str:
        f = self.f
        head = (f"training loss went from {_n(f.train_first_raw)} (epoch {self.first}) to {_n(f.train_last_raw)} "
                f"(epoch {self.last})")
        if f.train_improvement < self.th.flat_improvement:
            return (head + f"; its smoothed level (median of the first 3 epochs {_n(f.train_start)}, robust line "
                    f"through {self.tail} {_n(f.train_end)}) is only {_pct(f.train_improvement)} lower - a model that "
                    f"learns improves by far more than {_pct(self.th.flat_improvement)}")
        return head + f" (smoothed level {_pct(f.train_improvement)} lower)"

    def train_erratic(self) -> str:
        f = self.f
        return (f"training loss jumps around its smoothed trend by {_pct(f.train_noise)} of the loss range (RMS) and "
                f"went from {_n(f.train_first_raw)} (epoch {self.first}) to {_n(f.train_last_raw)} (epoch {self.last}), "
                f"its smoothed level only {_pct(f.train_improvement)} lower: noisy values at a relatively high loss")

    def train_still_falling(self) -> str:
        f = self.f
        return (self._moved("train", "fell") + f" and over {self.tail} its smoothed trend still fell by "
                f"{_n(f.train_tail_drop)}: {_pct(f.train_tail_share)} of its whole improvement and "
                f"{_pct(f.train_tail_rel)} of its final level - it had not levelled off")

    def train_stable(self) -> str:
        f = self.f
        return (self._moved("train", "fell") + f" and levelled off (the last {f.tail_epochs} epochs brought "
                f"{_pct(max(f.train_tail_share, 0))} of the improvement)")

    def levelled_together(self) -> str:
        f = self.f
        return (f"the smoothed training loss ended only {_pct(f.train_improvement)} below its start and validation "
                f"loss levelled off beside it ({_n(f.val_last_raw)} against {_n(f.train_last_raw)}, epoch "
                f"{self.last}; smoothed gap {_pct(abs(f.gap_relative))} of the validation loss): the model does no "
                "better on the examples it trains on than on unseen ones - it cannot fit even its training data")

    def train_after_best(self) -> str:
        f = self.f
        return (f"meanwhile training loss kept falling, to {_n(f.train_last_raw)} (epoch {self.last}): the model is "
                f"learning the training set's noise after epoch {self.stop}")

    # --- validation curve
    def _best_words(self) -> str:
        return f"lowest at {_n(self.f.best_raw)} (epoch {self.best})"

    def val_still_falling(self) -> str:
        f = self.f
        return (f"validation loss also still fell, to {_n(f.val_last_raw)} (epoch {self.last}); its smoothed trend "
                f"dropped {_n(f.val_tail_drop)} over {self.tail} ({_pct(f.val_tail_share)} of its improvement, "
                f"{_pct(f.val_tail_rel)} of its final level), so more epochs should still help")

    def val_stable(self) -> str:
        f = self.f
        head = self._moved("val", "fell")
        rise = max(f.val_rise, 0.0)
        if rise < self.th.overfit_rise_relative:
            return (head + f" and stayed there: {self._best_words()}; the smoothed end level is only {_pct(rise)} "
                           "above the smoothed minimum")
        # the scorer can read a good fit where the cascade saw a rise: quote the rise, do not call it level
        return (head + f": {self._best_words()}; the smoothed end level is {_pct(rise)} above the smoothed minimum, "
                       "a rise the other measurements outweigh")

    def val_rise(self) -> str:
        f = self.f
        return (f"validation loss was {self._best_words()}; its smoothed trend bottoms out around epoch {self.stop} "
                f"(smoothed {_n(f.val_best)}) and then rises, to {_n(f.val_last_raw)} (epoch {self.last}): the smoothed "
                f"end level {_n(f.val_end)} is {_pct(f.val_rise)} above the smoothed minimum, "
                f"{_pct(f.val_rise_range)} of the loss range, {f.val_rise_z:.1f} times the uncertainty its "
                "epoch-to-epoch noise leaves")

    def val_noisy(self) -> str:
        f = self.f
        return (f"validation loss jumps around its smoothed trend by {_pct(f.val_noise)} of the loss range (RMS; "
                f"{_pct(f.val_noise_level)} of its own level), "
                f"{f.val_noise / max(f.train_noise, 1e-12):.1f} times as much as training loss does")

    def noisy_rise(self) -> str:
        f = self.f
        return (f"the smoothed validation curve also rises after its minimum ({_pct(f.val_rise)} above it): the run "
                "may be overfitting as well, which a larger validation set would show reliably")

    def val_below(self) -> str:
        f = self.f
        return (f"validation loss was below training loss in {_pct(f.val_below_fraction)} of the epochs (after the "
                f"first tenth), typically by {_pct(f.val_below_margin)} of the training loss "
                f"({_pct(f.val_below_range)} of the loss range; at the end {_n(f.val_last_raw)} against "
                f"{_n(f.train_last_raw)}, epoch {self.last}): the validation set looks easier")

    def below_expected(self, regularized: str) -> str:
        f = self.f
        return (f"validation loss was below training loss in {_pct(f.val_below_fraction)} of the epochs (typically by "
                f"{_pct(f.val_below_margin)} of the training loss), as expected with the run's {regularized}: the "
                "training loss is measured with it on, the validation loss without - so it is not read as an "
                "unrepresentative validation set")

    def gap(self) -> str:
        f = self.f
        on_plot, relative = f.gap >= self.th.large_gap, f.gap_relative >= self.th.large_gap_relative
        head = (f"at the end validation loss is {_n(f.val_last_raw)} and training loss {_n(f.train_last_raw)} "
                f"(epoch {self.last}); smoothed, {_n(f.val_end)} and {_n(f.train_end)}: ")
        if on_plot == relative:
            return head + (f"a {'large' if on_plot else 'small'} gap of {_pct(f.gap)} of the loss range "
                           f"({_pct(f.gap_relative)} of the validation loss)")
        if relative:   # both losses fell far: the gap is small next to the fall, large next to the losses
            return head + (f"a gap small on the plot's scale ({_pct(f.gap)} of the loss range) but large next to the "
                           f"losses themselves ({_pct(f.gap_relative)} of the validation loss)")
        return head + (f"a gap of {_pct(f.gap)} of the loss range, yet small next to the losses themselves "
                       f"({_pct(f.gap_relative)} of the validation loss)")

    def val_improved(self) -> str:
        f = self.f
        rise = max(f.val_rise, 0.0)
        head = self._moved("val", "improved")
        if rise < self.th.overfit_rise_relative:
            return (head + f" and did not turn up (smoothed end {_pct(rise)} above its smoothed minimum), so this is "
                           "not overfitting but too little information in the training set")
        # the scorer can read this picture where the cascade saw a (small) rise: say so rather than deny it
        return (head + f"; its smoothed end is {_pct(rise)} above its smoothed minimum, a small rise next to the gap - "
                       "the gap, more than overfitting, says the training set carries too little information")

    def validation_summary(self) -> list[str]:
        if not self.f.has_validation:
            return [self.no_validation()]
        f = self.f
        return [f"validation loss went from {_n(f.val_first_raw)} (epoch {self.first}) to {_n(f.val_last_raw)} "
                f"(epoch {self.last})"]

    def no_validation(self) -> str:
        return ("the history has no validation loss: only underfitting can be judged from the training curve; "
                "good fit, overfitting and unrepresentative data need the validation curve")


def explain(verdict: str, h: LossHistory, f: Features, th: Thresholds, rules_said: Reading | None = None) -> Reading:
    """Evidence and advice for ``verdict`` whichever rule fired - used when the scorer outweighs the cascade.

    The evidence ends with what the rules alone read, so that the disagreement is visible, never hidden."""
    ev = Evidence(h, f, th)
    if verdict == "overfit":
        evidence, advice = [ev.val_rise(), ev.train_after_best()], overfit_advice(ev.best, ev.stop)
    elif verdict == "underfit":
        if f.train_improvement < th.flat_improvement or not still_falling(f, th, "train"):
            evidence, advice = [ev.train_flat()] + ev.validation_summary(), ADVICE["underfit_flat"]
        else:
            evidence, advice = [ev.train_still_falling(), ev.val_still_falling()], ADVICE["underfit_still_falling"]
    elif verdict == "unrepresentative_train":
        evidence, advice = [ev.gap(), ev.val_improved()], ADVICE["unrepresentative_train"]
    elif verdict == "unrepresentative_validation":
        if validation_mostly_below(f):
            evidence, advice = [ev.val_below()], ADVICE["unrepresentative_validation_below"]
        else:
            evidence, advice = [ev.val_noisy(), ev.gap()], ADVICE["unrepresentative_validation_noisy"]
    else:
        evidence, advice = [ev.train_stable(), ev.val_stable(), ev.gap()], good_fit_advice(ev.best)
    if rules_said is not None:
        evidence.append(f"the threshold rules alone would read {rules_said.verdict} (rule {rules_said.rule}); "
                        f"weighing all the measurements together, as fitted on recorded runs, reads {verdict}")
    return Reading(verdict, "scorer", evidence, advice)
