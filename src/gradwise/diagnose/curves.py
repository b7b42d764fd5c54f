"""Automatic reading of training curves: :func:`curves` -> :class:`Diagnosis`.

The lecture tells five situations apart by looking at the per-epoch training and validation loss:

* **underfit** - "a flat line or noisy values of relatively high loss", or "a training loss that is decreasing
  and continues to decrease at the end of the plot" (the training "was halted prematurely");
* **overfit** - training loss keeps falling while "validation loss decreases to a point and begins increasing
  again"; the inflection point is where training could be halted;
* **unrepresentative_train** - "the training dataset does not provide sufficient information to learn the
  problem, relative to the validation dataset": both curves improve but a large gap remains;
* **unrepresentative_validation** - a validation loss "that shows noisy movements around the training loss",
  or one "lower than the training loss";
* **good_fit** - both losses decrease to a point of stability with a small gap.

How a verdict is reached: :func:`~gradwise.diagnose.features.measure` measures scale-free features
(:class:`~gradwise.diagnose.features.Features`); the rule cascade of :mod:`gradwise.diagnose.rules` reads them
with the thresholds of :mod:`gradwise.diagnose.thresholds`; :mod:`gradwise.diagnose.scorer` (a small
multinomial logistic model averaged with small boosted trees, shipped as ``scorer.json``, fitted on recorded
runs and chosen and calibrated by grouped cross-validation) gives every verdict a probability - the verdict (its
evidence says what the rules alone read where they differ), the diagnosis's ``confidence`` and, when another
reading is close, its ``alternative``.  ``best_epoch`` follows the one definition of :mod:`gradwise.diagnose.best`:
the epoch whose weights are kept (lowest raw validation loss); ``stop_epoch`` is where the smoothed validation
trend bottoms out.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gradwise.diagnose.features import Features, measure
from gradwise.diagnose.history_io import LossHistory, history_from_object, recorded_regularization
from gradwise.diagnose.rules import (ADVICE, Evidence, Reading, apply_rules, explain,
                                     validation_mostly_below)
from gradwise.diagnose.scorer import decide
from gradwise.diagnose.smoothing import cv_smooth, local_linear, running_median, smooth, theil_sen  # noqa: F401
from gradwise.diagnose.thresholds import VERDICTS, Thresholds, Verdict, as_thresholds

__all__ = ["curves", "Diagnosis", "Thresholds", "VERDICTS", "measure", "Features", "check", "diagnose_features",
           # smoothers, re-exported from their own module for callers of the former single-file curves.py
           "cv_smooth", "local_linear", "running_median", "smooth", "theil_sen"]


@dataclass
class Diagnosis:
    """The reading of one pair of learning curves.

    ``verdict`` is one of :data:`VERDICTS`; ``best_epoch`` is the epoch whose weights to keep (lowest raw
    validation loss, :func:`gradwise.diagnose.best_epoch`; None without validation data); ``stop_epoch`` is where
    the smoothed validation trend bottoms out - where training could be halted (an overfitting run's "inflection
    point"; :func:`~gradwise.diagnose.smoothing.locate_minimum`);
    ``confidence`` in [0, 1] is the calibrated probability that the verdict is right; ``alternative`` names the
    runner-up reading when it is close (else None); ``evidence`` are the measurements that decided, in words
    (raw values as ``<value> (epoch <E>)``, every other level called smoothed); ``advice`` is what to try
    next; ``scores`` holds every measured feature; ``probabilities`` the scorer's probability of each verdict.
    """

    verdict: Verdict
    best_epoch: int | float | None
    evidence: list[str]
    advice: list[str]
    scores: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    confidence: float = 1.0
    alternative: str | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    rule: str | None = None
    stop_epoch: int | float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``gradwise diagnose --format json``."""
        def clean(v: Any) -> Any:
            if isinstance(v, float):
                return round(v, 6) if math.isfinite(v) else None   # JSON has no NaN/inf
            return v

        return {
            "verdict": self.verdict,
            "confidence": round(float(self.confidence), 3),
            "alternative": self.alternative,
            "best_epoch": self.best_epoch,
            "stop_epoch": self.stop_epoch,
            "evidence": list(self.evidence),
            "advice": list(self.advice),
            "probabilities": {k: round(float(v), 4) for k, v in self.probabilities.items()},
            "rule": self.rule,
            "scores": {k: clean(v) for k, v in self.scores.items()},
            "source": self.source,
        }

    def __str__(self) -> str:
        alt = f" (runner-up: {self.alternative})" if self.alternative else ""
        lines = [f"verdict:    {self.verdict}", f"confidence: {self.confidence:.2f}{alt}",
                 f"best epoch: {self.best_epoch if self.best_epoch is not None else '-'}"
                 + (" (weights to keep: lowest val_loss)" if self.best_epoch is not None else ""),
                 f"stop epoch: {self.stop_epoch if self.stop_epoch is not None else '-'}"
                 + (" (smoothed validation trend lowest)" if self.stop_epoch is not None else ""),
                 "evidence:"]
        lines += [f"  - {e}" for e in self.evidence]
        lines += ["advice:"] + [f"  - {a}" for a in self.advice]
        return "\n".join(lines)


def curves(history_or_path: Any, *, thresholds: Thresholds | Mapping[str, float] | None = None,
           regularized: Sequence[str] = ()) -> Diagnosis:
    """Diagnose a training run from its per-epoch training and validation losses.

    ``history_or_path`` is a path understood by :func:`~gradwise.diagnose.read_history`, a dict of
    per-epoch lists (``{"loss": [...], "val_loss": [...], "epoch": [...]}``), a list of per-epoch records, or
    any object with a ``records`` list (gradwise's ``History``).  ``thresholds`` overrides
    :class:`Thresholds` (an instance, or a dict of field names to values).  ``regularized`` names what made the
    run's training loss harder than its validation loss (``["dropout 0.5", "augmentation (RandomCrop)"]``, as
    ``fit`` and the babysitter find them): validation below training is then expected and is not read as an
    unrepresentative validation set (the reading says so and names that verdict as the alternative).  For a
    gradwise run directory (or a history file in one) it is read from the babysitter's ``babysit.json``.

    Raises ``ValueError`` (naming the source) for histories that are too short, contain NaN/inf or
    negative losses, or lack the validation loss a verdict would need: a history without validation
    data is diagnosed for underfitting only (flat or still-falling training loss).
    """
    th = as_thresholds(thresholds)
    h = history_from_object(history_or_path, source=_describe(history_or_path))
    check(h, th)
    f = measure(h, th)
    if not regularized and isinstance(history_or_path, (str, Path)):
        regularized = recorded_regularization(history_or_path)
    return diagnose_features(h, f, th, regularized)


def diagnose_features(h: LossHistory, f: Features, th: Thresholds, regularized: Sequence[str] = ()) -> Diagnosis:
    """The verdict, confidence and words for measured features (shared by :func:`curves` and the live diagnosis)."""
    policy = None if th == Thresholds() else "rules"
    reading, confidence, alternative, probs = _read(h, f, th, policy, apply_rules(h, f, th))
    if regularized and reading.verdict == "unrepresentative_validation" and validation_mostly_below(f):
        # the picture is validation below training, and the run's own regularisation explains it: read the rest
        reading, confidence, _, probs = _read(h, f, th, policy, apply_rules(h, f, th, below_expected=True),
                                              exclude="unrepresentative_validation")
        note = Evidence(h, f, th).below_expected(" and ".join(regularized))
        reading = Reading(reading.verdict, reading.rule, [note, *reading.evidence],
                          [*reading.advice, *ADVICE["below_expected"]])
        alternative = "unrepresentative_validation"
    best = h["epoch"][f.best_index] if f.has_validation else None
    stop = h["epoch"][f.val_best_index] if f.has_validation else None
    evidence = [*reading.evidence, *_accuracy_evidence(f)]
    return Diagnosis(reading.verdict, best, evidence, list(reading.advice), f.as_dict(),  # type: ignore[arg-type]
                     h.source, confidence, alternative, probs, reading.rule, stop)


def _accuracy_evidence(f: Features) -> list[str]:
    """The accuracy numbers the scorer weighed (where the history has training and validation accuracy): means of
    the raw values."""
    if not f.has_accuracy:
        return []
    return [f"accuracy as logged (means of the last {f.tail_epochs} logged epochs): training "
            f"{f.train_accuracy_end:.3f}, validation {f.train_accuracy_end - f.accuracy_gap:.3f} (gap "
            f"{f.accuracy_gap:+.3f}); that validation mean is {f.val_accuracy_drop:.3f} below its best 3-epoch mean"]


def _read(h: LossHistory, f: Features, th: Thresholds, policy: str | None, rules_said: Reading,
          exclude: str | None = None) -> tuple[Reading, float, str | None, dict[str, float]]:
    """The scorer's decision on the cascade's reading; where it outweighs the cascade, that verdict's words."""
    verdict, confidence, alternative, probs = decide(f, rules_said, policy=policy, exclude=exclude)
    reading = rules_said if verdict == rules_said.verdict else explain(verdict, h, f, th, rules_said=rules_said)
    return reading, confidence, alternative, probs


# ----------------------------------------------------------------------------- input handling
def _describe(obj: Any) -> str:
    if isinstance(obj, (str, Path)):
        return str(obj)
    return f"<{type(obj).__name__} history>"


def check(h: LossHistory, th: Thresholds) -> None:
    """Refuse histories no verdict can be read from: too short, non-finite, negative, unordered epochs."""
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


_ = Reading   # re-exported for type hints in callers
