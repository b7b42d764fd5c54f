"""`gradwise lr-find [CONFIG.toml]`: sweep the learning rate (fastai's lr_find) and suggest one, with a plot.

Builds the data and the model of the config (default: the embedded digits run), trains for
``--num-steps`` batches while the learning rate grows exponentially, prints the suggested rate
(steepest descent of the smoothed loss) and fastai's "minimum / 10", and saves the plot.
"""
from __future__ import annotations

import argparse
import sys

EXIT_BAD_CONFIG = 2


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``lr-find`` sub-command to the ``gradwise`` parser."""
    p = subparsers.add_parser("lr-find", help="learning-rate range test: suggest a learning rate and plot the sweep",
                              description=__doc__.splitlines()[0].split(": ", 1)[1])
    p.add_argument("config", nargs="?", metavar="CONFIG.toml", help="run description (default: the digits run)")
    p.add_argument("--out", default="lr_find.png", metavar="PNG", help="where to save the plot (default: lr_find.png)")
    p.add_argument("--start-lr", type=float, default=1e-7)
    p.add_argument("--end-lr", type=float, default=10.0)
    p.add_argument("--num-steps", type=int, default=100)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    import gradwise
    from gradwise.train import lr_find
    from gradwise.train.config import ConfigError, build_data, build_model, load_config, loss_name

    try:
        cfg = load_config(args.config)
        gradwise.manual_seed(cfg["train"]["seed"])
        data = build_data(cfg)
        model, _ = build_model(cfg, data)
    except (ConfigError, FileNotFoundError) as err:
        print(f"gradwise lr-find: error: {err}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    opt = cfg["optim"]
    extra = {k: opt[k] for k in ("weight_decay", "momentum", "nesterov") if opt[k] is not None}
    try:
        result = lr_find(model, data.train, loss_name(cfg, data), optimizer_cls=opt["name"], start_lr=args.start_lr,
                         end_lr=args.end_lr, num_steps=args.num_steps, batch_size=cfg["train"]["batch_size"],
                         optimizer_kwargs=extra, seed=cfg["train"]["seed"])
    except ValueError as err:
        print(f"gradwise lr-find: error: {err}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    print(f"data: {data.description}")
    print(result)
    print(f"plot: {result.plot(args.out)}")
    return 0


__all__ = ["register", "run"]
