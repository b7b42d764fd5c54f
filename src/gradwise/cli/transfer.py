"""`gradwise transfer`: the measured transfer-learning example, advice from the lecture's table, or your own transfer.

* ``gradwise transfer [--out DIR] [--seeds 0 1 2 3 4] [--sizes 2 5 10 20]`` - pre-train a small CNN on
  digits 0-4 and compare scratch, linear probes and fine-tuning on digits 5-9 with few labels
  (one fixed protocol for every method; mean ± std over seeds);
* ``gradwise transfer --advise 20 --similarity different`` - the table's strategy with reasons;
* ``gradwise transfer --config transfer.toml`` - your source weights and target data
  (see :mod:`gradwise.transfer.config`).
"""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser("transfer", help="transfer learning: the measured digits example, the lecture's "
                                                    "strategy table, or your own weights and data")
    parser.add_argument("--out", default="transfer-example", help="folder for the results table, CSV and plot")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 5, 10, 20], help="labelled images per class")
    parser.add_argument("--steps", type=int, default=100, help="optimizer steps for scratch and fine-tuning")
    parser.add_argument("--lr", type=float, default=1e-3, help="learning rate of scratch and fine-tuning")
    parser.add_argument("--fine-tune-lr", type=float, default=1e-4,
                        help="pretrained layers' rate in the '10x smaller lr' variant")
    parser.add_argument("--pretrain-epochs", type=int, default=20, help="epochs of pre-training on digits 0-4")
    parser.add_argument("--no-augment", action="store_true", help="pre-train without random one-pixel shifts")
    parser.add_argument("--methods", nargs="+", help="a subset of the example's methods (quoted names)")
    parser.add_argument("--config", help="TOML file with your source weights and target data")
    parser.add_argument("--advise", type=int, metavar="N_PER_CLASS", help="print the table's advice for N labelled "
                                                                           "examples per class and exit")
    parser.add_argument("--similarity", default="similar", help="with --advise: 'similar' or 'different'")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.advise is not None:
        from gradwise.transfer import advise

        print(advise(args.advise, args.similarity))
        return 0
    if args.config:
        from gradwise.transfer.config import run_config

        run_config(args.config)
        return 0
    from gradwise.transfer.example import METHODS, Settings, run_example

    run_example(sizes=args.sizes, seeds=args.seeds, out=args.out, methods=args.methods or METHODS,
                settings=Settings(steps=args.steps, lr=args.lr, fine_tune_lr=args.fine_tune_lr),
                pretrain_epochs=args.pretrain_epochs, augment=not args.no_augment)
    return 0


__all__ = ["register", "run"]
