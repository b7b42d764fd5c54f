"""`gradwise solvers`: draw the paths of optimizers on the lecture's loss landscapes.

Runs gradwise's optimizers from the same start on a 2-D landscape (an ill-conditioned
quadratic, a saddle point, local minima, a bumpy valley full of small pits, Rosenbrock), saves
the contour plot with their paths as a PNG (optionally an animated GIF), and prints the table
of steps-to-tolerance and final loss. ``--landscape all`` draws every landscape.
"""
from __future__ import annotations

import argparse
import os
import sys

EXIT_BAD_INPUT = 2


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``solvers`` sub-command to the ``gradwise`` parser."""
    from gradwise.solvers import LANDSCAPES, SOLVERS

    p = subparsers.add_parser(
        "solvers",
        help="draw how SGD, momentum, Adam, ... move on the lecture's loss landscapes",
        description=__doc__.splitlines()[0].split(": ", 1)[1],
    )
    p.add_argument("--landscape", default="rosenbrock", choices=[*LANDSCAPES, "all"],
                   help="the loss surface (default: rosenbrock; 'all' draws each one)")
    p.add_argument("--solvers", default=None,
                   help=f"comma-separated solver names (default: the landscape's); from {', '.join(SOLVERS)}")
    p.add_argument("--steps", type=int, default=None, help="number of steps (default: the landscape's)")
    p.add_argument("--noise", type=float, default=None,
                   help="std of the Gaussian noise on the gradient of the 'SGD' solver (default: the landscape's)")
    p.add_argument("--start", default=None, metavar="X,Y", help="start point (default: the landscape's)")
    p.add_argument("--tol", type=float, default=None, help="tolerance on f - f_min for steps-to-tolerance")
    p.add_argument("--seed", type=int, default=0, help="seed of the gradient noise (default: 0)")
    p.add_argument("--out", default="solvers.png",
                   help="PNG to write (default: solvers.png; with --landscape all, NAME is appended to it)")
    p.add_argument("--gif", default=None, help="also write an animated GIF of the paths")
    p.set_defaults(func=run)
    return p


def _with_suffix(path: str | None, name: str) -> str | None:
    if path is None:
        return None
    root, ext = os.path.splitext(path)
    return f"{root}_{name}{ext}"


def run(args: argparse.Namespace) -> int:
    from gradwise.solvers import LANDSCAPES, playground

    start = None
    if args.start is not None:
        try:
            x, y = (float(v) for v in args.start.split(","))
        except ValueError:
            print(f"gradwise solvers: error: --start expects X,Y, got {args.start!r}", file=sys.stderr)
            return EXIT_BAD_INPUT
        start = (x, y)
    names = list(LANDSCAPES) if args.landscape == "all" else [args.landscape]
    for name in names:
        several = len(names) > 1
        out = _with_suffix(args.out, name) if several else args.out
        gif = _with_suffix(args.gif, name) if several else args.gif
        try:
            playground(args.solvers, landscape=name, start=start, steps=args.steps, noise=args.noise,
                       seed=args.seed, path=out, gif=gif, tol=args.tol)
        except ValueError as err:
            print(f"gradwise solvers: error: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"wrote {out}" + (f" and {gif}" if gif else ""))
        if several:
            print()
    return 0
