"""The results table: one row per trial with its score *and* its diagnosis, read back from the Optuna storage.

Each row says what the trial tried (its parameters), how it scored on validation data (the objective - the
smoothed validation curve at the kept epoch, with its standard error, :mod:`gradwise.tune.scoring` - and the
raw validation loss and accuracy at that epoch), how far it ran (epochs, pruned or not) and what the
babysitter and the curve diagnosis found (``"overfit from epoch 14; dead ReLUs 62% in layer 2"``).
The rows come from the study itself (``trial.user_attrs``, written by the objective), so a table built
on any machine that can reach the storage is complete, whichever worker ran each trial.
"""
from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gradwise.tune.space import SearchSpace
from gradwise.tune.study import is_surplus

__all__ = ["TrialRow", "collect_rows", "format_table", "write_results", "short_param", "format_value"]

#: Short names for the table's parameter column (the full keys are in results.csv/json).
_SHORT = {"optim.lr": "lr", "optim.name": "opt", "optim.weight_decay": "wd", "optim.momentum": "mom",
          "model.width": "width", "model.depth": "depth", "model.dropout": "drop", "model.activation": "act",
          "model.filters": "filters", "model.kind": "kind", "model.init": "init", "model.hidden": "hidden",
          "schedule.kind": "sched", "schedule.gamma": "gamma", "train.batch_size": "batch"}


@dataclass
class TrialRow:
    """One trial of the study, as the table, the CSV and the report show it."""

    number: int
    state: str                                  # complete | pruned | fail | running | waiting
    value: float | None                         # the objective (smoothed metric at the kept epoch); None unless complete
    params: dict[str, Any]
    val_loss: float | None = None               # at the best epoch
    val_accuracy: float | None = None           # at the best epoch
    best_epoch: int | None = None
    epochs_run: int | None = None
    pruned_at: int | None = None
    verdict: str | None = None
    notes: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    curves: dict[str, list[Any]] = field(default_factory=dict)
    intermediate: dict[int, float] = field(default_factory=dict)
    stop_reason: str | None = None
    seconds: float | None = None
    worker: str | None = None
    log_dir: str | None = None
    error: str | None = None
    retry_of: int | None = None
    raw_value: float | None = None              # the logged metric at the kept epoch
    noise: float | None = None                  # epoch-to-epoch noise of the validation curve
    score_se: float | None = None               # standard error of ``value`` (curve and validation set together)
    curve_se: float | None = None               # ... its part from the curve's epoch-to-epoch noise
    val_se: float | None = None                 # ... its part from the validation set's sampling noise
    val_n: int | None = None                    # validation examples
    val_examples: list[float] | None = None     # per-example validation values at the kept weights (paired ranking)
    confirmed: list[float] = field(default_factory=list)       # scores of the confirmation runs (other seeds)
    confirmed_seeds: list[int] = field(default_factory=list)   # ... and their [train] seeds
    flags: list[str] = field(default_factory=list)     # why the run is not trusted as a winner (scoring.flags)
    smoothed: dict[str, list[Any]] | None = None        # the smoothed validation curve {"epoch": [...], metric: [...]}

    @property
    def diagnosis(self) -> str:
        """The notes as one cell: ``"overfit from epoch 14; dead ReLUs 62% in layer 2"``."""
        return "; ".join(self.notes) if self.notes else "-"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("val_examples", None)                 # per-example numbers stay in the study, not in results.json
        d["diagnosis"] = self.diagnosis
        if self.value is not None and not math.isfinite(self.value):
            d["value"] = None
        d["intermediate"] = {str(k): v for k, v in self.intermediate.items()}
        return d


def _finite(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def collect_rows(study: Any, space: SearchSpace | None = None) -> list[TrialRow]:
    """A :class:`TrialRow` per trial of ``study`` (waiting ones left out), in trial-number order."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        state = t.state.name.lower()
        if state == "waiting" or is_surplus(t):
            continue
        attrs = t.user_attrs
        params = space.decode(t.params) if space is not None else dict(t.params)
        retry = t.system_attrs.get("retry_history")
        rows.append(TrialRow(
            number=t.number, state=state, value=t.value if state == "complete" else None, params=params,
            val_loss=attrs.get("best_val_loss"), val_accuracy=attrs.get("best_val_accuracy"),
            best_epoch=attrs.get("best_epoch"), epochs_run=attrs.get("epochs_run"), pruned_at=attrs.get("pruned_at"),
            verdict=attrs.get("verdict"), notes=list(attrs.get("notes") or []), checks=list(attrs.get("checks") or []),
            curves=dict(attrs.get("curves") or {}), intermediate=dict(t.intermediate_values),
            stop_reason=attrs.get("stop_reason"), seconds=attrs.get("seconds"), worker=attrs.get("worker"),
            log_dir=attrs.get("log_dir"), error=attrs.get("error"), retry_of=int(retry[0]) if retry else None,
            raw_value=attrs.get("score_raw"), noise=attrs.get("noise"), score_se=attrs.get("score_se"),
            curve_se=attrs.get("curve_se", attrs.get("score_se")), val_se=attrs.get("val_se"), val_n=attrs.get("val_n"),
            val_examples=attrs.get("val_examples"),
            flags=list(attrs.get("flags") or []), smoothed=attrs.get("smoothed")))
    retried = {r.retry_of for r in rows if r.retry_of is not None}
    for r in rows:
        if r.state == "fail" and r.number in retried and not r.error:
            again = [x.number for x in rows if x.retry_of == r.number]
            r.notes = [f"interrupted; re-run as trial {again[0]}"] if again else ["interrupted"]
    return rows


def format_value(v: Any) -> str:
    """A number for the table: 4 significant digits, small/large ones in e-notation."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if v != 0 and (abs(v) < 1e-2 or abs(v) >= 1e4):
            return f"{v:.2e}"
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(str(x) for x in v) + "]"
    return str(v)


def short_param(name: str) -> str:
    return _SHORT.get(name, name.split(".", 1)[-1])


def _params_cell(params: dict[str, Any]) -> str:
    return " ".join(f"{short_param(k)}={format_value(v)}" for k, v in params.items())


def _rank_key(row: TrialRow, direction: str) -> tuple:
    order = {"complete": 0, "pruned": 1, "running": 2, "fail": 3}
    value = row.value if row.value is not None and math.isfinite(row.value) else None
    if value is None and row.state == "pruned" and row.intermediate:
        value = row.intermediate[max(row.intermediate)]
    sign = 1 if direction == "minimize" else -1
    return (order.get(row.state, 4), sign * value if value is not None else math.inf, row.number)


def format_table(rows: Sequence[TrialRow], metric: str = "val_loss", direction: str = "minimize",
                 best: int | None = None, sort: bool = True, width: int = 200) -> str:
    """The table as text: best trials first (complete, then pruned, then failed), one line each.

    Columns: trial, state, the objective (± its standard error), validation accuracy and loss at the kept
    epoch, epochs run, the parameters, and the diagnosis.  ``best`` marks that trial with ``*``.
    """
    ordered = (sorted(rows, key=lambda r: (r.number != best, _rank_key(r, direction))) if sort  # the crowned trial first
               else list(rows))
    extra = [k for k in ("val_acc", "val_loss") if not metric.startswith(k)]   # the objective is shown once
    header = ["#", "state", metric, *extra, "epochs", "parameters", "diagnosis"]
    lines = []
    for r in ordered:
        epochs = "-" if r.epochs_run is None else (f"{r.epochs_run}" + (f" (best {r.best_epoch})" if r.best_epoch else ""))
        value = r.value
        if value is None and r.state == "pruned" and r.intermediate:
            value = r.intermediate[max(r.intermediate)]
        shown = {"val_acc": format_value(r.val_accuracy), "val_loss": format_value(r.val_loss)}
        cell = format_value(value) + (f"±{r.score_se:.1g}" if r.state == "complete" and r.score_se else "")
        lines.append([f"{r.number}{'*' if r.number == best else ''}", r.state, cell,
                      *(shown[k] for k in extra), epochs, _params_cell(r.params),
                      r.diagnosis if not r.error else f"error: {r.error}"])
    widths = [max(len(header[i]), *(len(line[i]) for line in lines)) if lines else len(header[i])
              for i in range(len(header) - 1)]
    widths = [min(w, 110) for w in widths]

    def fmt(cells: list[str]) -> str:
        head = "  ".join(c[:w].ljust(w) for c, w in zip(cells[:-1], widths))
        return (head + "  " + cells[-1]).rstrip()

    out = [fmt(header), fmt(["-" * w for w in widths] + ["-" * 9])]
    out += [fmt(line) for line in lines]
    return "\n".join(line[:width] if width else line for line in out)


def write_results(rows: Sequence[TrialRow], run_dir: str | Path, extra: dict[str, Any] | None = None) -> list[Path]:
    """Write ``results.csv`` (one row per trial, one column per parameter) and ``results.json`` (everything)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    for r in rows:
        names.extend(k for k in r.params if k not in names)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["number", "state", "value", "value_se", "noise", "raw_value", "val_loss", "val_accuracy",
                     "best_epoch", "epochs_run", "pruned_at", *names, "verdict", "flags", "diagnosis", "seconds",
                     "worker"])
    for r in rows:
        writer.writerow([r.number, r.state, "" if r.value is None else r.value, _cell(r.score_se), _cell(r.noise),
                         _cell(r.raw_value), _cell(r.val_loss), _cell(r.val_accuracy),
                         _cell(r.best_epoch), _cell(r.epochs_run), _cell(r.pruned_at),
                         *(_cell(r.params.get(n)) for n in names), _cell(r.verdict), "; ".join(r.flags),
                         r.diagnosis if not r.error else f"error: {r.error}", _cell(r.seconds), _cell(r.worker)])
    csv_path = run_dir / "results.csv"
    csv_path.write_text(buf.getvalue(), encoding="utf-8")
    json_path = run_dir / "results.json"
    payload = {**(extra or {}), "trials": [r.to_dict() for r in rows]}
    json_path.write_text(json.dumps(payload, indent=1, default=_json_default), encoding="utf-8")
    return [csv_path, json_path]


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (list, tuple)):
        return json.dumps(list(v))
    return str(v)


def _json_default(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item"):
        return v.item()
    return str(v)
