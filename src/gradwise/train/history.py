"""What a training run leaves behind: per-epoch records, the babysitter's checks, and why it stopped.

The lecture's first babysitting rule for the training loss is "Log it. Visualise it. Is it
decreasing?", and its "Training Graphs" are read from the per-epoch training and validation curves.
:class:`History` holds exactly those curves, one record per epoch, in the format that
:mod:`gradwise.diagnose` reads (``history.csv`` / ``history.jsonl``), so that a run can be diagnosed
in memory (``History.diagnosis``) or later from its files (``gradwise diagnose runs/.../history.csv``).
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["History", "Check", "STANDARD_KEYS", "CHECK_STATUSES"]

#: Columns of gradwise's ``history.csv`` / keys of ``history.jsonl``, in order (see
#: ``gradwise/diagnose/history_io.py``); metrics beyond these follow as extra columns.
STANDARD_KEYS = ("epoch", "loss", "val_loss", "accuracy", "val_accuracy", "lr", "seconds")
#: A check's status: ``skip`` is a check that could not run for want of something (a sample batch, a loss
#: function) that the training loop did not give - reported with the reason, never counted as a pass.
CHECK_STATUSES = ("pass", "warn", "fail", "skip")


@dataclass
class Check:
    """One babysitting finding: ``Check(name, status, message, evidence)``.

    ``status`` is ``"pass"``, ``"warn"``, ``"fail"`` or ``"skip"`` (could not run: the message says what it
    needed); ``evidence`` holds the numbers behind the
    message (JSON-serialisable values).  ``epoch`` and ``step`` say when it was made; the trainer
    fills them in when a check is recorded with :meth:`gradwise.train.Trainer.warn` without them
    (``epoch`` 0 means before the first epoch).
    """

    name: str
    status: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    epoch: int | None = None
    step: int | None = None

    def __post_init__(self) -> None:
        if self.status not in CHECK_STATUSES:
            raise ValueError(f"Check {self.name!r}: status {self.status!r} is not one of {', '.join(CHECK_STATUSES)}")

    @classmethod
    def coerce(cls, obj: Any) -> "Check":
        """A :class:`Check` from a Check, a dict, or any object with name/status/message(/evidence)."""
        if isinstance(obj, cls):
            return obj
        if isinstance(obj, Mapping):
            known = {k: obj[k] for k in ("name", "status", "message", "evidence", "epoch", "step") if k in obj}
            return cls(**known)
        try:
            return cls(name=obj.name, status=obj.status, message=obj.message,
                       evidence=dict(getattr(obj, "evidence", None) or {}),
                       epoch=getattr(obj, "epoch", None), step=getattr(obj, "step", None))
        except AttributeError:
            raise TypeError(f"expected a Check (name, status, message, evidence), got {type(obj).__name__}") from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        when = f"epoch {self.epoch}" if self.epoch else "before training"
        return f"[{self.status}] {self.name} ({when}): {self.message}"


class History:
    """The record of one ``fit()`` run.

    * ``records`` - one dict per epoch: ``epoch`` (from 1), ``loss`` (mean training loss of the
      epoch), ``accuracy`` (classification), ``val_loss`` / ``val_accuracy`` (with validation data),
      ``lr`` (param group 0's learning rate during the epoch), ``seconds`` (the epoch's wall time,
      validation included), and any further metric.  Keys that do not apply are absent.
    * ``checks`` - the babysitter's :class:`Check` objects, in the order they were made.
    * ``diagnosis`` - :func:`gradwise.diagnose.curves` of the run (a ``Diagnosis``) when it had
      validation data and enough epochs, else None (``diagnosis_note`` says why).
    * ``stop_reason`` - why the loop ended (the lecture's "stopping condition"), in words.
    * ``best_epoch`` - the epoch with the lowest validation loss (None without validation).

    ``history["loss"]`` is the list of one key over the epochs (None where an epoch lacks it);
    ``history.history`` is the same as a dict of lists, as Keras' ``History.history``.
    """

    def __init__(self, records: list[dict[str, Any]] | None = None, checks: list[Check] | None = None) -> None:
        self.records: list[dict[str, Any]] = list(records or [])
        self.checks: list[Check] = list(checks or [])
        self.diagnosis: Any = None
        self.diagnosis_note: str | None = None
        self.stop_reason: str | None = None
        self.stopped_epoch: int | None = None

    # ------------------------------------------------------------------ reading
    def keys(self) -> list[str]:
        """Every key that appears in some record: the standard ones first, in :data:`STANDARD_KEYS` order."""
        seen = [k for k in STANDARD_KEYS if any(k in r for r in self.records)]
        for r in self.records:
            seen.extend(k for k in r if k not in seen)
        return seen

    def __getitem__(self, key: str) -> list[Any]:
        if not any(key in r for r in self.records):
            raise KeyError(f"{key!r} was not logged; logged keys: {', '.join(self.keys()) or '(none yet)'}")
        return [r.get(key) for r in self.records]

    def __contains__(self, key: object) -> bool:
        return any(key in r for r in self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    @property
    def history(self) -> dict[str, list[Any]]:
        """Keras' layout: ``{"loss": [...], "val_loss": [...], ...}``."""
        return {k: self[k] for k in self.keys()}

    @property
    def epoch(self) -> list[int]:
        return [r["epoch"] for r in self.records]

    @property
    def best_epoch(self) -> int | None:
        """The epoch whose weights are kept: the lowest raw validation loss, the first on ties (None without
        validation) - :func:`gradwise.diagnose.best_epoch`, the one definition the diagnosis, early
        stopping's restore, the summary line, the report and ``run.json`` share."""
        from gradwise.diagnose.best import best_epoch

        return best_epoch(self.records, "val_loss")

    def summary(self) -> str:
        """One line: epochs run, final metrics and the stop reason."""
        if not self.records:
            return f"no epoch completed; {self.stop_reason or 'not started'}"
        last = self.records[-1]
        shown = "  ".join(f"{k} {_fmt(last[k])}" for k in self.keys() if k not in ("epoch", "seconds") and k in last)
        return f"{len(self.records)} epoch(s): {shown}; stopped: {self.stop_reason}"

    def __repr__(self) -> str:
        return f"History({len(self.records)} epochs, {len(self.checks)} checks, stop_reason={self.stop_reason!r})"

    # ------------------------------------------------------------------ files (gradwise's history format)
    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write ``history.csv``: columns ``epoch,loss,val_loss,accuracy,val_accuracy,lr,seconds`` (then extras).

        The standard columns are always present, empty where they do not apply, so that every gradwise
        run has the same header; floats are written in full precision (``repr``).
        """
        from gradwise.train.checkpoint import atomic_write

        columns = self._columns()
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for r in self.records:
            writer.writerow(["" if r.get(c) is None else _cell(r[c]) for c in columns])
        return atomic_write(path, lambda f: f.write(buf.getvalue().encode("utf-8")))

    def to_jsonl(self, path: str | os.PathLike) -> Path:
        """Write ``history.jsonl``: one JSON object per epoch with the standard keys (``null`` where absent)."""
        from gradwise.train.checkpoint import atomic_write

        columns = self._columns()
        text = "".join(json.dumps({c: _json_value(r.get(c)) for c in columns}) + "\n" for r in self.records)
        return atomic_write(path, lambda f: f.write(text.encode("utf-8")))

    def _columns(self) -> list[str]:
        return [*STANDARD_KEYS, *(k for k in self.keys() if k not in STANDARD_KEYS)]

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {"records": [dict(r) for r in self.records], "checks": [c.to_dict() for c in self.checks],
                "stop_reason": self.stop_reason, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.records = [dict(r) for r in state.get("records", [])]
        self.checks = [Check.coerce(c) for c in state.get("checks", [])]
        self.stop_reason = state.get("stop_reason")
        self.stopped_epoch = state.get("stopped_epoch")


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _cell(v: Any) -> str:
    return repr(float(v)) if isinstance(v, float) else str(v)


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None   # JSON has no NaN; records never hold one (a non-finite loss stops the run)
    return v
