"""Reading a run while it trains: :func:`diagnose_so_far` at each epoch end and :func:`should_stop` for the
opt-in ``early_stopping="diagnosis"``.

``should_stop`` stops a run when either

* at least ``min_epochs`` epochs are logged, the diagnosis of the epochs so far reads ``overfit`` with
  confidence >= ``min_confidence``, the best epoch lies at least ``min_epochs_after_best`` epochs back and the
  smoothed validation trend has risen by at least ``min_rise_z`` standard errors of its own noise (the rise is
  real, not one bad evaluation or a wobble of a noisy curve), or
* the validation loss has not improved on its lowest raw value for ``patience`` epochs - the rule of Keras'
  ``EarlyStopping(patience=6)`` itself, kept as a floor, so the run never stops later than that would;

and restores :func:`gradwise.diagnose.best_epoch` of the epochs so far (the one best-epoch definition).  The
cost per epoch is one :func:`~gradwise.diagnose.curves` of the history so far (milliseconds for hundreds of
epochs); a trainer keeps the weights to restore with :class:`~gradwise.diagnose.BestEpochTracker`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradwise.diagnose.best import _series, best_epoch
from gradwise.diagnose.curves import Diagnosis, check, diagnose_features
from gradwise.diagnose.features import measure
from gradwise.diagnose.history_io import history_from_object
from gradwise.diagnose.thresholds import Thresholds, as_thresholds

#: defaults of the stopping rule (chosen on the development corpus, see docs/diagnosis_accuracy.md)
PATIENCE = 6
#: round 6 (more development families, a scorer fitted with C=3 whose confidences are calibrated flatter):
#: with 0.9 and 3 epochs, 10 of 1,449 development runs were restored to another epoch (true loss up to 36 %
#: worse); with 0.97 and 4 none is, and 1.6 % of the overfitting runs' epochs are still saved
MIN_CONFIDENCE = 0.97
MIN_EPOCHS_AFTER_BEST = 4
#: the cascade's own test of a significant rise (Thresholds.overfit_rise_z): the scorer may read overfitting
#: in a rise within the noise of a finished run, but stopping live on one ended a development run
#: (fresh/swissroll_reg_overf_3, erratic RMSprop) at epoch 13 instead of 29, restoring weights 115 % worse
MIN_RISE_Z = 3.0
#: round 7, after the seventh fresh set was read: the diagnosis stopped two of its 215 runs at their 6th and 11th
#: epochs, on a first dip that a later, lower one beat (patience restored that later epoch, true loss 2-5 % better);
#: the first epochs of a run are too few to tell a first dip from the bottom, so the diagnosis acts from the 12th on
MIN_EPOCHS = 12


def diagnose_so_far(records: Any, thresholds: Thresholds | Mapping[str, float] | None = None) -> Diagnosis | None:
    """The diagnosis of the epochs recorded so far, or None while it cannot be read yet (fewer than
    ``Thresholds.min_epochs`` epochs, no validation loss, a non-finite value) - never an exception."""
    th = as_thresholds(thresholds)
    try:
        h = history_from_object(records, source="<training so far>")
        if "val_loss" not in h:
            return None
        check(h, th)
        return diagnose_features(h, measure(h, th), th)
    except (ValueError, TypeError, KeyError):
        return None


def should_stop(diagnosis: Diagnosis | None, records: Any, *, patience: int = PATIENCE,
                min_confidence: float = MIN_CONFIDENCE, min_epochs_after_best: int = MIN_EPOCHS_AFTER_BEST,
                min_rise_z: float = MIN_RISE_Z, min_epochs: int = MIN_EPOCHS,
                monitor: str = "val_loss") -> tuple[bool, str, Any]:
    """(stop?, reason in words, epoch whose weights to restore) after the newest epoch of ``records``."""
    epochs, values = _series(records, monitor)
    restore = best_epoch(records, monitor)
    if not values:
        return False, f"no {monitor} logged yet", None
    lowest = int(np.argmin(values))           # first epoch of the lowest raw value: what patience counts from
    since = len(values) - 1 - lowest
    if (diagnosis is not None and diagnosis.verdict == "overfit" and diagnosis.confidence >= min_confidence
            and len(values) >= min_epochs):
        at = epochs.index(restore) if restore in epochs else 0
        after = len(values) - 1 - at
        # overfitting is a validation loss that fell and then rose: one that only rose from the first epoch
        # (an early bump, common while a model warms up) is left to the patience rule
        fell_first = at > 0 and values[at] < values[0]
        significant = float(diagnosis.scores.get("val_rise_z", 0.0)) >= min_rise_z
        if after >= min_epochs_after_best and fell_first and significant:
            return True, (f"the diagnosis reads overfit (confidence {diagnosis.confidence:.2f}): {monitor} has risen "
                          f"since epoch {restore}, whose weights are restored"), restore
    if since >= patience:
        return True, (f"{monitor} has not improved on {values[lowest]:.4g} (epoch {epochs[lowest]}) for {since} "
                      f"epochs (patience {patience}); restoring epoch {restore}"), restore
    return False, "", restore


@dataclass
class LiveDiagnosis:
    """Incremental use in a training loop: ``stop, reason, restore = live.update(record)`` at each epoch end.

    Holds the records seen so far and the latest diagnosis (``live.diagnosis``, None until readable)."""

    patience: int = PATIENCE
    min_confidence: float = MIN_CONFIDENCE
    min_epochs_after_best: int = MIN_EPOCHS_AFTER_BEST
    min_rise_z: float = MIN_RISE_Z
    min_epochs: int = MIN_EPOCHS
    thresholds: Thresholds | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    diagnosis: Diagnosis | None = None

    def update(self, record: Mapping[str, Any]) -> tuple[bool, str, Any]:
        self.records.append(dict(record))
        self.diagnosis = diagnose_so_far(self.records, self.thresholds)
        return should_stop(self.diagnosis, self.records, patience=self.patience,
                           min_confidence=self.min_confidence, min_epochs_after_best=self.min_epochs_after_best,
                           min_rise_z=self.min_rise_z, min_epochs=self.min_epochs)
