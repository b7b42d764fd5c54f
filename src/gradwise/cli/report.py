"""`gradwise report RUN_DIR`: render a training run's ``report.html`` (curves, diagnosis, checks, layer statistics).

The page is made by ``gradwise.report.render(run_dir)`` from the files a run leaves in its log
directory (``gradwise train`` or ``fit(..., log_dir=RUN_DIR)``).  Errors print one line and exit
with status 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_ERROR = 2


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``report`` sub-command to the ``gradwise`` parser."""
    p = subparsers.add_parser("report", help="render report.html for a training run's log directory",
                              description=__doc__.splitlines()[0].split(": ", 1)[1])
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run's log directory (e.g. runs/20250101-120000)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        print(f"gradwise report: error: {run_dir}: no such run directory", file=sys.stderr)
        return EXIT_ERROR
    try:
        import gradwise.report as report
        render = report.render
    except (ImportError, AttributeError):
        print("gradwise report: error: the report renderer (gradwise.report.render) is not available in this "
              "installation", file=sys.stderr)
        return EXIT_ERROR
    try:
        path = render(run_dir)
    except (ValueError, OSError) as err:
        print(f"gradwise report: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    print(path if path is not None else run_dir / "report.html")
    return 0


__all__ = ["register", "run"]
