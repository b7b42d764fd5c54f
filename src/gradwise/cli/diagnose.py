"""`gradwise diagnose HISTORY [--format text|json]`: read a run's learning curves and name the problem.

HISTORY is a gradwise history.csv/history.jsonl, a Keras CSVLogger CSV, a PyTorch Lightning
metrics.csv (or its log directory), a Keras History JSON, or a TensorBoard event file/directory.
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
                   help="history file or log directory (gradwise, Keras, Lightning, TensorBoard)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from gradwise.diagnose import curves

    try:
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
