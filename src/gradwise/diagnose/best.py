"""The best epoch - one definition for the diagnosis, early stopping's restore, the summary line, the report
and ``run.json``: **the epoch whose weights are kept**, the one with the lowest raw validation loss (the first
such epoch on ties; ``mode="max"`` for accuracies takes the highest).  It is what Keras' ``ModelCheckpoint``
and ``EarlyStopping(restore_best_weights=True)`` and gradwise's ``History.best_epoch`` keep.

Why the raw value and not a smoothed one: what matters about kept weights is their own generalisation loss.
On the 106 overfitting runs of tests/data/curve_runs* whose hidden test-set loss is stored, the weights at the
raw validation minimum have a true loss within the band of the true minimum (min(5 %, 25 % of the later rise))
in 90-100 % of runs per set, median excess 0.0 % - with hundreds of validation examples the epoch-to-epoch
jitter is mostly the weights' own, which the true loss shares; the lowest 3-epoch mean lands there in only
69-90 % (median excess 1-3 %).  A smoothed curve answers another question - where the validation *trend*
bottoms out, i.e. where training could have been halted - which the diagnosis reports as ``stop_epoch``,
named as such and never as the best epoch.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def _series(history: Any, monitor: str) -> tuple[list[Any], list[float]]:
    """(epochs, values) of ``monitor`` over the epochs that logged it, from records, a History or columns."""
    records = getattr(history, "records", history)
    if isinstance(records, Mapping):    # a dict of per-epoch lists (or a LossHistory)
        vals = list(records.get(monitor) or [])
        eps = list(records.get("epoch") or range(1, len(vals) + 1))
        pairs = list(zip(eps, vals))
    else:
        pairs = [(r.get("epoch", i + 1), r.get(monitor)) for i, r in enumerate(records)]
    pairs = [(e, float(v)) for e, v in pairs if v is not None and np.isfinite(float(v))]
    return [e for e, _ in pairs], [v for _, v in pairs]


def best_epoch(history: Any, monitor: str = "val_loss", mode: str = "min") -> Any:
    """The epoch whose weights to keep: lowest raw ``monitor`` (``mode="max"``: highest), first on ties;
    None if ``monitor`` was never logged.

    ``history`` is a list of per-epoch records (dicts with ``epoch`` and ``monitor``), an object with
    ``records`` (gradwise's ``History``) or a dict of per-epoch lists (a ``LossHistory``)."""
    if mode not in ("min", "max"):
        raise ValueError(f"best_epoch: mode must be 'min' or 'max', got {mode!r}")
    epochs, values = _series(history, monitor)
    if not values:
        return None
    v = np.asarray(values)
    return epochs[int(np.argmax(v) if mode == "max" else np.argmin(v))]
