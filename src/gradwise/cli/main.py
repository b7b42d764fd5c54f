"""Entry point of the `gradwise` command (also `python -m gradwise`).

Each sub-command lives in its own module of `gradwise.cli` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
taking the parsed ``argparse.Namespace`` and returning an exit code.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# Sub-command modules, in the order `gradwise --help` lists them.
COMMANDS = ("demo", "train", "diagnose", "report", "lr-find", "solvers", "transfer", "tune")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradwise",
        description="gradwise: train deep networks you can see into, and read training runs from any framework.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"gradwise.cli.{name.replace('-', '_')}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
