"""Entry point of the `gradwise` command (also `python -m gradwise`).

Each sub-command lives in its own module of `gradwise.cli` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
taking the parsed ``argparse.Namespace`` and returning an exit code.  Whatever a sub-command raises goes
through one error boundary (:func:`gradwise.cli.errors.run_command`): a short message and exit status 1
(the run failed) or 2 (usage/config), 130/143 when interrupted; ``--debug`` or ``GRADWISE_DEBUG=1`` adds
the traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from gradwise.cli.errors import pop_debug_flag, run_command

# Sub-command modules, in the order `gradwise --help` lists them.
COMMANDS = ("demo", "train", "diagnose", "report", "lr-find", "solvers", "transfer", "tune")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradwise",
        description="gradwise: train deep networks you can see into, and read training runs from any framework.",
    )
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an error (also GRADWISE_DEBUG=1); accepted anywhere")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"gradwise.cli.{name.replace('-', '_')}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the sub-command, return its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = pop_debug_flag(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return run_command(args.func, args, prog=f"gradwise {args.command}", debug=debug or args.debug)


if __name__ == "__main__":
    sys.exit(main())
