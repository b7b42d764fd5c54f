"""`gradwise diagnose HISTORY [--format text|json]`: read a run's learning curves and name the problem.

HISTORY is a gradwise history.csv/history.jsonl, a Keras CSVLogger CSV, a PyTorch Lightning
metrics.csv (or its log directory), a Keras History JSON, a TensorBoard event file/directory, or a plain
CSV with an epoch column and common loss column names; a directory holding several runs prints one line per
run (``--format json``: a list of objects).
Text output lists the verdict, the epoch where validation loss bottoms out, the evidence and the
advice; ``--format json`` prints exactly one JSON object (api.md, "Command line").  Unreadable or
unsuitable histories print one error line to stderr and exit with status 2.
"""
from __future__ import annotations

import argparse
import json
import sys

EXIT_BAD_INPUT = 2


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``diagnose`` sub-command to the ``gradwise`` parser."""
    p = subparsers.add_parser(
        "diagnose",
        help="diagnose a training history: underfit, overfit, good fit, unrepresentative train/validation data",
        description=__doc__.splitlines()[0].split(": ", 1)[1],
    )
    p.add_argument("history", metavar="HISTORY",
                   help="history file or log directory (gradwise, Keras, Lightning, TensorBoard, CSV); a directory "
                        "of several runs prints a table")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gradwise.diagnose import curves
    from gradwise.diagnose.history_io import find_runs

    try:
        path = Path(args.history)
        if path.is_dir() and len(find_runs(path)) > 1:
            return _table(path, args.format)
        diagnosis = curves(args.history)
    except (ValueError, OSError, ImportError, TypeError) as err:
        print(f"gradwise diagnose: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.format == "json":
        print(json.dumps(diagnosis.to_dict()))
    else:
        print(f"{args.history}")
        print(diagnosis)
    return 0


def _table(path, fmt: str) -> int:
    """A directory of runs: one line (text) or one JSON object in a list (json) per run; a run that cannot be
    diagnosed shows its error in place of a verdict, and the exit status is 2 only if none could be."""
    from gradwise.diagnose import curves, read_histories
    from gradwise.diagnose.history_io import recorded_regularization

    rows = []
    for name, h in read_histories(path, errors="keep"):
        if isinstance(h, Exception):
            rows.append({"run": name, "error": str(h)})
            continue
        try:
            d = curves(h, regularized=recorded_regularization(h.source))   # a gradwise run's babysit.json
        except (ValueError, TypeError) as err:
            rows.append({"run": name, "error": str(err)})
            continue
        rows.append({"run": name, "epochs": len(h["loss"]), **d.to_dict()})
    if fmt == "json":
        print(json.dumps(rows))
    else:
        width = max(len(r["run"]) for r in rows)
        print(f"{'run':<{width}}  {'verdict':<28} {'conf':>4}  {'runner-up':<28} {'best':>5} {'epochs':>6}")
        for r in rows:
            if "error" in r:
                print(f"{r['run']:<{width}}  error: {r['error']}")
            else:
                best = "-" if r["best_epoch"] is None else r["best_epoch"]
                print(f"{r['run']:<{width}}  {r['verdict']:<28} {r['confidence']:4.2f}  {r['alternative'] or '-':<28} "
                      f"{best!s:>5} {r['epochs']:>6}")
    return 0 if any("error" not in r for r in rows) else EXIT_BAD_INPUT
