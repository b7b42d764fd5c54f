"""Reading per-epoch training histories written by gradwise, Keras, PyTorch Lightning and TensorBoard.

Everything the learning-curve diagnosis needs is one number per epoch for the training loss and,
when the run was validated, for the validation loss.  Frameworks log them under different names and
layouts; this module turns each layout into the same thing, a :class:`LossHistory`: a ``dict`` of
equal-length lists ``{"epoch": [...], "loss": [...], "val_loss": [...], ...}`` where ``epoch`` holds
the epoch numbers *as numbered in the file* (Keras and Lightning count from 0, gradwise from 1).

Supported inputs (:func:`read_history`):

* gradwise ``history.csv`` - columns ``epoch,loss,val_loss,accuracy,val_accuracy,lr,seconds``, one row
  per epoch, epochs numbered from 1; ``history.jsonl`` - one JSON object per line with the same keys.
  ``val_loss``/``val_accuracy`` may be empty (CSV) or ``null`` (JSONL) when the run had no validation.
* Keras ``CSVLogger`` CSV - ``epoch`` (from 0) followed by the metric names (``loss``, ``val_loss``,
  ``accuracy``, ...).
* PyTorch Lightning ``CSVLogger`` ``metrics.csv`` - ``epoch``, ``step`` and one column per logged
  key; training and validation metrics, and per-step metrics, are written on *separate* rows with
  the other cells empty.  Rows are merged by epoch; epoch-level keys (``train_loss_epoch``) are
  preferred over step-level ones (``train_loss_step``, averaged over the epoch's rows if nothing
  better exists).  A Lightning log directory (``.../version_0``) is accepted too.
* A JSON file holding Keras' ``History.history`` dict of lists.
* TensorBoard event files or a directory of them (read with the optional ``tensorboard`` package):
  scalars such as ``loss``/``train_loss``/``Loss/train`` and ``val_loss``/``validation/loss``/``Loss/val``,
  Keras' layout of ``train/`` and ``validation/`` runs each holding ``epoch_loss``, and PyTorch's
  ``SummaryWriter.add_scalars("Loss", {"train": ..., "val": ...})`` layout (``Loss_train/``, ``Loss_val/``).
* Plain CSVs with an epoch column and any of the common spellings (``train_loss``, ``Loss/train``,
  ``valid_loss``, ``validation_loss``, ``loss/val`` ...; case, spaces, dashes and dots do not matter).
* Lightning ``metrics.csv`` re-saved with ``NaN`` instead of empty cells (a row whose every value is NaN is
  still a diverged run).
* A directory holding several runs: :func:`read_histories` reads each (``gradwise diagnose DIR`` prints a
  table); :func:`read_history` on such a directory names the runs it found.

Column names are matched, case-insensitively, against the explicit candidate lists below
(:data:`TRAIN_LOSS_NAMES`, ...); if no training-loss column is found the error lists the columns that
were found and the names that were expected.  Values are checked: an explicit NaN or infinity
(a diverged run) is an error naming the file, the column and the epoch, never silently skipped.
"""
from __future__ import annotations

import bisect
import csv
import json
import math
import numbers
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# Candidate names for each quantity, in order of preference (compared case-insensitively).
# Epoch-level names come before step-level ones, so that Lightning's `train_loss_epoch` wins over
# `train_loss_step`, and names of the framework's own conventions come first.
EPOCH_NAMES = ("epoch", "epochs")
TRAIN_LOSS_NAMES = (
    "loss", "train_loss_epoch", "train_loss", "training_loss", "train/loss", "loss/train", "train/epoch_loss",
    "loss/training", "training/loss", "train/loss_epoch", "loss_train", "train_epoch_loss", "epoch_loss",
    "loss_epoch", "trn_loss", "train_loss_step", "loss_step", "train/loss_step",
)
VAL_LOSS_NAMES = (
    "val_loss", "val_loss_epoch", "validation_loss", "valid_loss", "val/loss", "loss/val", "loss/valid",
    "loss/validation", "validation/loss", "valid/loss", "validation/epoch_loss", "val/epoch_loss", "val/loss_epoch",
    "loss_val", "loss_valid", "val_epoch_loss", "valid_epoch_loss", "eval_loss", "eval/loss", "loss/eval",
    "val_loss_step",
)
ACCURACY_NAMES = (
    "accuracy", "acc", "train_acc_epoch", "train_accuracy_epoch", "train_acc", "train_accuracy", "train/accuracy",
    "train/acc", "accuracy/train", "acc/train", "train/epoch_accuracy", "epoch_accuracy",
)
VAL_ACCURACY_NAMES = (
    "val_accuracy", "val_acc", "val_acc_epoch", "val_accuracy_epoch", "validation_accuracy", "valid_accuracy",
    "valid_acc", "val/accuracy", "val/acc", "accuracy/val", "acc/val", "accuracy/valid", "accuracy/validation",
    "validation/accuracy", "validation/epoch_accuracy",
)
#: canonical key of :class:`LossHistory` -> accepted source names
QUANTITIES: dict[str, tuple[str, ...]] = {
    "loss": TRAIN_LOSS_NAMES,
    "val_loss": VAL_LOSS_NAMES,
    "accuracy": ACCURACY_NAMES,
    "val_accuracy": VAL_ACCURACY_NAMES,
}

Row = Mapping[str, Any]


class LossHistory(dict):
    """Per-epoch curves: ``{"epoch": [...], "loss": [...], "val_loss": [...] (if validated), ...}``.

    A plain ``dict[str, list[float]]`` with two extra attributes: ``source`` (the file, or a
    description of the object, used in messages) and ``columns`` (canonical key -> the column/tag
    name it was read from), so that errors and evidence can name what was actually read.
    """

    source: str
    columns: dict[str, str]

    def __init__(self, data: Mapping[str, list[float]], source: str, columns: Mapping[str, str]) -> None:
        super().__init__(data)
        self.source = source
        self.columns = dict(columns)

    @property
    def has_validation(self) -> bool:
        return "val_loss" in self


# ----------------------------------------------------------------------------- public entry points
def read_history(path: str | Path) -> LossHistory:
    """Read a training history file (or log directory) into a :class:`LossHistory`.

    The format is recognised from the path: a directory holding TensorBoard event files, a Lightning
    ``metrics.csv`` or a gradwise ``history.csv``/``history.jsonl``; a ``*.csv`` or ``*.log`` file
    (gradwise, Keras ``CSVLogger`` - whose default file is ``training.log`` - or Lightning
    ``CSVLogger``, told apart by their columns); a ``*.jsonl`` file
    (gradwise); a ``*.json`` file (Keras ``History.history``); a TensorBoard ``*tfevents*`` file.

    Raises ``FileNotFoundError`` for a missing path and ``ValueError`` (naming the file and the
    problem) for anything that cannot be read as a per-epoch loss history.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or directory")
    if p.is_dir():
        return _read_directory(p)
    name = p.name.lower()
    if "tfevents" in name:
        return _read_tensorboard([p], str(p))
    if name.endswith(".csv") or name.endswith(".log"):   # Keras' CSVLogger writes "training.log" by default
        return _read_csv(p)
    if name.endswith(".jsonl") or name.endswith(".ndjson"):
        return _read_jsonl(p)
    if name.endswith(".json"):
        return _read_json(p)
    raise ValueError(
        f"{p}: unknown history format; expected a .csv (gradwise, Keras CSVLogger, Lightning metrics.csv), "
        ".jsonl (gradwise), .json (Keras History.history) file, a TensorBoard event file, or a log directory")


def recorded_regularization(path: str | Path) -> list[str]:
    """What gradwise's babysitter recorded as making the run's training loss harder than its validation loss
    (``babysit.json``'s ``context.regularization`` beside the history: ``["dropout 0.5", ...]``); [] if none."""
    p = Path(path)
    f = (p if p.is_dir() else p.parent) / "babysit.json"
    try:
        found = json.loads(f.read_text())["context"]["regularization"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [str(x) for x in found] if isinstance(found, list) else []


def history_from_object(obj: Any, source: str = "history") -> LossHistory:
    """Turn an in-memory history into a :class:`LossHistory`.

    Accepts a dict of per-epoch lists (``{"loss": [...], "val_loss": [...]}``, optionally with
    ``"epoch"``; without it epochs are numbered from 1), an object with a ``records`` list of
    per-epoch dicts (gradwise's ``History``), a Keras ``History`` (``.history`` dict and ``.epoch``
    list), or a list of per-epoch dicts.  An existing :class:`LossHistory` is returned unchanged.
    """
    if isinstance(obj, LossHistory):
        return obj
    if isinstance(obj, (str, Path)):
        return read_history(obj)
    records = getattr(obj, "records", None)
    if records is not None:
        return _from_records(list(records), source)
    keras_history = getattr(obj, "history", None)
    if isinstance(keras_history, Mapping):
        epochs = getattr(obj, "epoch", None)
        data = dict(keras_history)
        if epochs is not None and "epoch" not in data:
            data["epoch"] = list(epochs)
        return _from_columns(data, source)
    if isinstance(obj, Mapping):
        return _from_columns(obj, source)
    if isinstance(obj, list) and all(isinstance(r, Mapping) for r in obj):
        return _from_records(obj, source)
    raise TypeError(
        f"cannot read a training history from {type(obj).__name__}: pass a file path, a dict of per-epoch lists, "
        "a list of per-epoch dicts, or an object with a `records` list")


# ----------------------------------------------------------------------------- formats
def _read_directory(d: Path) -> LossHistory:
    runs = _find_runs(d)
    if not runs:
        raise ValueError(
            f"{d}: no history found in this directory; expected TensorBoard event files (*tfevents*), "
            "a Lightning metrics.csv, a gradwise history.csv/history.jsonl, or CSV histories")
    if len(runs) > 1:
        listing = ", ".join(name for name, _, _ in runs)
        raise ValueError(f"{d}: several runs found ({listing}); pass the one to diagnose, or diagnose them all "
                         "as a table with read_histories() / `gradwise diagnose DIR`")
    return _read_run(*runs[0][1:])


def _read_run(target: Path, kind: str) -> LossHistory:
    if kind == "tensorboard":
        events = sorted(f for f in target.rglob("*") if f.is_file() and "tfevents" in f.name)
        return _read_tensorboard(events, str(target))
    return read_history(target)


#: directories that hold one split of a TensorBoard run (Keras' train/ and validation/ layout)
_SPLIT_DIRS = {"train", "training", "validation", "val", "valid", "eval", "test"}
#: files of a gradwise run directory that are not epoch histories
_NOT_HISTORIES = {"steps.csv", "steps.jsonl", "checks.jsonl", "hparams.yaml", "run.json"}


def _find_runs(d: Path) -> list[tuple[str, Path, str]]:
    """The runs under ``d`` as (name relative to ``d``, path, "tensorboard" | "file"), sorted by name.

    A TensorBoard run is a directory of event files together with its Keras-style split directories
    (``train/``, ``validation/``) and ``SummaryWriter.add_scalars`` sub-directories; a directory holding a
    gradwise ``history.csv`` (or ``history.jsonl``) or a Lightning ``metrics.csv`` is one run; any other
    ``*.csv`` / ``*.jsonl`` file, or a ``*.log`` file whose header names an epoch column (Keras' CSVLogger
    writes ``training.log``), is a run of its own."""
    def rel(p: Path) -> str:
        return "." if p == d else p.relative_to(d).as_posix()

    files = sorted(f for f in d.rglob("*") if f.is_file())
    event_dirs = sorted({f.parent for f in files if "tfevents" in f.name})
    roots: set[Path] = set()
    for ed in event_dirs:
        root = ed
        if ed != d and (ed.name.lower() in _SPLIT_DIRS or (ed.parent in event_dirs and "_" in ed.name)):
            root = ed.parent
        roots.add(root)
    # a split directory directly under a root with events of its own belongs to that root
    roots = {r for r in roots if not any(r != o and r.is_relative_to(o) and r.parent == o for o in roots)}
    runs: list[tuple[str, Path, str]] = [(rel(r), r, "tensorboard") for r in roots]
    taken = set(roots)
    for folder in sorted({f.parent for f in files}):
        if any(folder == t or folder.is_relative_to(t) for t in taken):
            continue
        names = {f.name for f in files if f.parent == folder}
        for one in ("history.csv", "history.jsonl", "metrics.csv"):
            if one in names:
                runs.append((rel(folder), folder / one, "file"))
                break
        else:
            for f in sorted(f for f in files if f.parent == folder):
                if f.name in _NOT_HISTORIES or "tfevents" in f.name:
                    continue
                suffix = f.suffix.lower()
                if suffix in (".csv", ".jsonl", ".ndjson") or (suffix == ".log" and _looks_like_csv_log(f)):
                    runs.append((rel(f), f, "file"))
    return sorted(runs)


def _looks_like_csv_log(f: Path) -> bool:
    try:
        with f.open(errors="replace") as fh:
            head = fh.readline().lower()
    except OSError:
        return False
    return "," in head and "epoch" in head


def _read_csv(p: Path) -> LossHistory:
    try:
        with p.open(newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header:
                raise ValueError(f"{p}: the file is empty (no header row)")
            header = [h.strip() for h in header]
            rows = []
            for lineno, cells in enumerate(reader, start=2):
                if not cells or all(not c.strip() for c in cells):
                    continue
                if len(cells) != len(header):
                    raise ValueError(f"{p}, line {lineno}: {len(cells)} cells but the header has {len(header)} columns")
                rows.append({h: _parse_cell(c) for h, c in zip(header, cells)})
    except UnicodeDecodeError as err:
        raise ValueError(f"{p}: not a text CSV file ({err})") from None
    if _row_split(header, rows):
        rows = [_unpad(r, header, p) for r in rows]
    else:
        rows = _latest_run(rows, header, p)
    return _from_rows(rows, header, str(p))


def _latest_run(rows: list[dict[str, Any]], header: list[str], p: Path) -> list[dict[str, Any]]:
    """A one-row-per-epoch log whose epoch numbers go back holds more than one run - Keras'
    ``CSVLogger(append=True)`` after a restart, or after a resume from an earlier epoch: the later rows win
    from the epoch where they start (a restart from 0 keeps only the new run; a resume from epoch 5 keeps the
    first run's epochs before 5).  Averaging the runs' rows epoch by epoch would describe neither."""
    col = _find(header, EPOCH_NAMES)
    if col is None:
        return rows
    kept: list[dict[str, Any]] = []
    last = None
    restarts = 0
    for r in rows:
        e = _number(r.get(col)) if _is_value(r.get(col)) else None
        if e is not None and last is not None and e <= last:
            kept = [k for k in kept if (_number(k.get(col)) if _is_value(k.get(col)) else -math.inf) < e]
            restarts += 1
        kept.append(r)
        last = e if e is not None else last
    if restarts:
        warnings.warn(f"{p}: the epoch numbers go back {restarts} time(s) - the file holds more than one run "
                      "(a CSV logger appending after a restart or resume); the later rows replace the earlier ones "
                      "from the epoch where they start", UserWarning, stacklevel=4)
    return kept


def _row_split(header: list[str], rows: list[dict[str, Any]]) -> bool:
    """Lightning's CSVLogger layout: a ``step`` column and the training and validation losses on separate rows
    (``metrics.csv`` re-saved by pandas pads the other cells with NaN instead of leaving them empty)."""
    if _find(header, ("step",)) is None:
        return False
    t, v = _find(header, TRAIN_LOSS_NAMES), _find(header, VAL_LOSS_NAMES)
    if t is None or v is None:
        return False

    def finite(x: Any) -> bool:
        return isinstance(x, float) and math.isfinite(x)

    return not any(finite(r.get(t)) and finite(r.get(v)) for r in rows)


def _unpad(row: dict[str, Any], header: list[str], p: Path) -> dict[str, Any]:
    """NaN cells of a row-split file are padding (empty), unless every metric of the row is NaN: then the
    logged value itself was NaN - a diverged run, which is an error as everywhere else."""
    meta = {_find(header, EPOCH_NAMES), _find(header, ("step",))}
    metrics = [c for c in header if c not in meta and row.get(c) is not None]
    if metrics and all(isinstance(row[c], float) and math.isnan(row[c]) for c in metrics):
        e = row.get(_find(header, EPOCH_NAMES) or "epoch")
        raise ValueError(f"{p}: every value logged at epoch {_fmt_epoch(e)}, step {row.get('step')} is NaN "
                         f"({', '.join(metrics)}) - the run diverged or logged a broken value")
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}


def _parse_cell(cell: str) -> float | str | None:
    cell = cell.strip()
    if cell == "":
        return None
    try:
        return float(cell)
    except ValueError:
        return cell   # non-numeric (e.g. a timestamp); an error only if this column is needed


def _read_jsonl(p: Path) -> LossHistory:
    records = []
    for lineno, line in enumerate(p.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{p}, line {lineno}: not valid JSON ({err.msg})") from None
        if not isinstance(rec, dict):
            raise ValueError(f"{p}, line {lineno}: expected one JSON object per epoch, got {type(rec).__name__}")
        records.append(rec)
    return _from_records(records, str(p))


def _read_json(p: Path) -> LossHistory:
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{p}: not valid JSON ({err.msg})") from None
    if isinstance(data, dict) and all(isinstance(v, list) for v in data.values()):
        return _from_columns(data, str(p))
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return _from_records(data, str(p))
    raise ValueError(f"{p}: expected a JSON object of per-epoch lists (Keras History.history) or a list of "
                     "per-epoch objects")


def _read_tensorboard(files: list[Path], source: str) -> LossHistory:
    """Scalars of TensorBoard event files -> rows keyed by epoch (or step).

    Tags are prefixed with the run directory relative to the log directory, so Keras' layout
    (``train/`` and ``validation/`` runs, each with ``epoch_loss``) reads as ``train/epoch_loss`` and
    ``validation/epoch_loss``.  The step of each value is its epoch, unless the run also logged an
    ``epoch`` scalar (Lightning does), which then maps steps to epochs, or the training loss was
    logged at steps where the validation loss was not (see :func:`_steps_to_validation_steps`).
    """
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
        from tensorboard.util import tensor_util
    except ImportError:
        raise ImportError(
            f"{source}: reading TensorBoard event files needs the `tensorboard` package: "
            "pip install 'gradwise[tensorboard]' (or: pip install tensorboard)") from None
    root = Path(source)
    root = root if root.is_dir() else root.parent
    points: dict[str, dict[float, list[float]]] = {}
    # a single event file is read on its own; a directory run by run (each sub-directory is one run)
    targets = [files[0]] if Path(source).is_file() else sorted({f.parent for f in files})
    for target in targets:
        run_dir = target if target.is_dir() else target.parent
        acc = EventAccumulator(str(target), size_guidance={"scalars": 0, "tensors": 0})
        try:
            acc.Reload()
        except Exception as err:   # corrupt event files raise assorted errors deep inside tensorboard
            raise ValueError(f"{target}: cannot read TensorBoard events ({err})") from None
        sub = "" if run_dir == root else run_dir.relative_to(root).as_posix()
        tags = acc.Tags()
        for tag in tags.get("scalars", []):
            for ev in acc.Scalars(tag):
                points.setdefault(_tag_name(sub, tag), {}).setdefault(ev.step, []).append(float(ev.value))
        for tag in tags.get("tensors", []):   # TF2 / Keras write scalars as rank-0 tensors
            for ev in acc.Tensors(tag):
                value = tensor_util.make_ndarray(ev.tensor_proto)
                if value.size == 1:
                    points.setdefault(_tag_name(sub, tag), {}).setdefault(ev.step, []).append(float(value.reshape(())))
    if not points:
        raise ValueError(f"{source}: the TensorBoard events hold no scalar values")
    epoch_tag = next((t for t in points if t.rsplit("/", 1)[-1].lower() == "epoch"), None)
    tags = [t for t in points if t != epoch_tag]
    if epoch_tag:
        step_to_epoch = {s: v[-1] for s, v in points[epoch_tag].items()}
    else:
        step_to_epoch = _steps_to_validation_steps(points, tags)
    # one row per (epoch, tag, value); _from_rows averages the values a tag has within an epoch
    rows = [{"epoch": step_to_epoch.get(step, step), tag: v}
            for tag in tags for step, values in sorted(points[tag].items()) for v in values]
    return _from_rows(rows, ["epoch", *sorted(tags)], source)


def _tag_name(sub: str, tag: str) -> str:
    """A scalar's name: ``<run sub-directory>/<tag>``, except for ``SummaryWriter.add_scalars(main, {key: ...})``,
    which writes ``main`` into a sub-directory ``<main with / as _>_<key>``: that reads as ``main/key``
    (``add_scalars("loss", {"train": .., "val": ..})`` -> ``loss/train``, ``loss/val``)."""
    if not sub:
        return tag
    last = sub.rsplit("/", 1)[-1]
    main = tag.replace("/", "_")
    if last.startswith(main + "_") and len(last) > len(main) + 1:
        return tag + "/" + last[len(main) + 1:]
    return sub + "/" + tag


def _steps_to_validation_steps(points: Mapping[str, Mapping[float, list[float]]], tags: list[str]) -> dict:
    """Without an ``epoch`` scalar, a training loss logged every step is grouped by validation.

    Each step is mapped to the first validation step at or after it, so that the training values
    between two validations are averaged into one point next to that validation value (steps after
    the last validation map to None and are dropped).  If training and validation share their steps
    (one value per epoch, as Keras and most epoch loops log) this changes nothing.
    """
    val_tag = _find(tags, VAL_LOSS_NAMES)
    if val_tag is None:
        return {}
    val_steps = sorted(points[val_tag])
    mapping: dict[float, float | None] = {}
    for tag in tags:
        for step in points[tag]:
            i = bisect.bisect_left(val_steps, step)
            mapping[step] = val_steps[i] if i < len(val_steps) else None
    return mapping


# ----------------------------------------------------------------------------- common path
def _from_columns(data: Mapping[str, Any], source: str) -> LossHistory:
    lengths = {k: len(v) for k, v in data.items() if _is_sequence(v)}
    if not lengths:
        raise ValueError(f"{source}: expected per-epoch lists, got keys {sorted(data)}")
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{source}: the per-epoch lists have different lengths: {lengths}")
    n = next(iter(lengths.values()))
    keys = list(lengths)
    rows = [{k: data[k][i] for k in keys} for i in range(n)]
    if "epoch" not in {k.lower() for k in keys}:
        for i, r in enumerate(rows):   # numbered from 1, the way people count epochs
            r["epoch"] = i + 1
        keys = ["epoch", *keys]
    return _from_rows(rows, keys, source)


def _from_records(records: list[Mapping[str, Any]], source: str) -> LossHistory:
    keys: list[str] = []
    for r in records:
        keys.extend(k for k in r if k not in keys)
    rows = [dict(r) for r in records]
    if "epoch" not in {k.lower() for k in keys}:
        for i, r in enumerate(rows):
            r["epoch"] = i + 1
        keys = ["epoch", *keys]
    return _from_rows(rows, keys, source)


def _norm(name: str) -> str:
    """Case, spaces, dashes and dots do not matter: ``Loss/Val``, ``val-loss`` and ``val.loss`` match ``val_loss``."""
    return name.strip().lower().replace(" ", "_").replace("-", "_").replace(".", "_")


def _find(columns: Iterable[str], names: tuple[str, ...]) -> str | None:
    by_norm: dict[str, str] = {}
    for c in columns:
        by_norm.setdefault(_norm(c), c)
    return next((by_norm[_norm(n)] for n in names if _norm(n) in by_norm), None)


def _from_rows(rows: list[Row], columns: list[str], source: str) -> LossHistory:
    """Merge rows by epoch (averaging several values of one column within an epoch) and pick the columns."""
    epoch_col = _find(columns, EPOCH_NAMES)
    if epoch_col is None:
        raise ValueError(f"{source}: no epoch column. Columns found: {', '.join(columns) or '(none)'}. "
                         f"Expected one named {' or '.join(repr(n) for n in EPOCH_NAMES)}.")
    present = [c for c in columns if any(_is_value(r.get(c)) for r in rows)]
    chosen = {key: _find(present, names) for key, names in QUANTITIES.items()}
    if chosen["loss"] is None:
        raise ValueError(
            f"{source}: no training-loss column. Columns found: {', '.join(columns) or '(none)'}. "
            f"Expected one of: {', '.join(TRAIN_LOSS_NAMES)} (validation loss: {', '.join(VAL_LOSS_NAMES)}).")
    chosen = {k: c for k, c in chosen.items() if c is not None}

    by_epoch: dict[float, dict[str, list[float]]] = {}
    for r in rows:
        raw_epoch = r.get(epoch_col)
        if not _is_value(raw_epoch):
            continue    # e.g. a Lightning row written before the first epoch
        e = _number(raw_epoch)
        if e is None:
            raise ValueError(f"{source}: epoch value {raw_epoch!r} is not a number")
        slot = by_epoch.setdefault(e, {})
        for key, col in chosen.items():
            raw = r.get(col)
            if not _is_value(raw):
                continue
            v = _number(raw)
            if v is None:
                raise ValueError(f"{source}: column {col!r} has a non-numeric value {raw!r} at epoch {_fmt_epoch(e)}")
            if not math.isfinite(v):
                raise ValueError(
                    f"{source}: column {col!r} is {v} at epoch {_fmt_epoch(e)} - the run diverged or logged a "
                    "broken value; diagnose the finite part of the run by cutting the file before that epoch")
            slot.setdefault(key, []).append(float(v))

    # keep the epochs where the training loss (and, if the run was validated, the validation loss) was logged
    epochs = sorted(e for e, s in by_epoch.items() if "loss" in s)
    if "val_loss" in chosen:
        epochs = [e for e in epochs if "val_loss" in by_epoch[e]]
    if not epochs:
        raise ValueError(f"{source}: no epoch has both a training loss ({chosen['loss']!r})"
                         + (f" and a validation loss ({chosen['val_loss']!r})" if "val_loss" in chosen else ""))
    data: dict[str, list[float]] = {"epoch": [int(e) if float(e).is_integer() else e for e in epochs]}
    for key in chosen:
        if all(key in by_epoch[e] for e in epochs):
            data[key] = [sum(by_epoch[e][key]) / len(by_epoch[e][key]) for e in epochs]
        elif key in ("loss", "val_loss"):
            raise AssertionError("unreachable: epochs were filtered on these keys")
    return LossHistory(data, source, {k: c for k, c in chosen.items() if k in data})


def _is_sequence(v: Any) -> bool:
    """A per-epoch list: list, tuple, NumPy array, ... (not a string or a dict)."""
    return hasattr(v, "__len__") and hasattr(v, "__getitem__") and not isinstance(v, (str, bytes, Mapping))


def _number(v: Any) -> float | None:
    """``v`` as a float if it is a number (Python, NumPy or a 0-d tensor), else None."""
    if isinstance(v, bool) or isinstance(v, str):
        return None
    if isinstance(v, numbers.Real):
        return float(v)
    try:
        return float(v) if hasattr(v, "__float__") else None
    except (TypeError, ValueError):
        return None


def _is_value(v: Any) -> bool:
    return v is not None and v != ""


def _fmt_epoch(e: Any) -> str:
    return str(int(e)) if isinstance(e, float) and e.is_integer() else str(e)


def read_histories(path: str | Path, errors: str = "raise") -> list[tuple[str, LossHistory | Exception]]:
    """Every run under ``path`` as (name, history), for a table of runs; a file gives one pair.

    ``errors="keep"`` puts a run's reading error in place of its history instead of raising, so one broken
    file does not hide the other runs.  Raises ``ValueError`` if ``path`` holds no history at all."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or directory")
    targets = [(p.name, p, "file")] if not p.is_dir() else _find_runs(p)
    if not targets:
        raise ValueError(f"{p}: no history found in this directory (TensorBoard event files, metrics.csv, "
                         "history.csv/.jsonl or other CSV histories)")
    out: list[tuple[str, LossHistory | Exception]] = []
    for name, target, kind in targets:
        try:
            out.append((name, _read_run(target, kind)))
        except (ValueError, OSError, ImportError) as err:
            if errors == "raise":
                raise
            out.append((name, err))
    return out


def find_runs(d: str | Path) -> list[tuple[str, Path]]:
    """The runs under directory ``d`` as (name, path) - see :func:`read_histories`."""
    return [(name, target) for name, target, _ in _find_runs(Path(d))]
