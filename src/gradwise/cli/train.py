"""`gradwise train [CONFIG.toml]`: train a model with babysitting, logs, checkpoints, a diagnosis and a report.

Without a config it runs the embedded digits job (``gradwise train --print-config`` shows it): the
lecture's babysitting recipe end to end - inputs standardized with training statistics only, an MLP
initialised for its activations, Adam, a stratified validation split, the automatic checks while
training, early stopping on the validation loss, then the learning-curve diagnosis and, when
``gradwise.report`` is installed, ``report.html``.  Logs go to ``runs/<timestamp>/`` (or ``--out``).
Config errors print one line naming the key and the allowed values and exit with status 2.
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

EXIT_BAD_CONFIG = 2


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``train`` sub-command to the ``gradwise`` parser."""
    p = subparsers.add_parser("train", help="train a model from a TOML config (default: the embedded digits run) "
                              "with babysitting, logs, a diagnosis and a report",
                              description=__doc__.splitlines()[0].split(": ", 1)[1])
    p.add_argument("config", nargs="?", metavar="CONFIG.toml", help="run description (default: the digits run)")
    p.add_argument("--out", metavar="DIR", help="log directory (default: runs/<timestamp>)")
    p.add_argument("--epochs", type=int, help="override [train] epochs")
    p.add_argument("--seed", type=int, help="override [train] seed")
    p.add_argument("--resume", metavar="CHECKPOINT", help="continue from a checkpoint (e.g. RUN/checkpoints/last.npz)")
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard event files")
    p.add_argument("--no-babysit", action="store_true", help="turn the automatic checks off")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or per-epoch lines")
    p.add_argument("--no-report", action="store_true", help="do not render report.html")
    p.add_argument("--print-config", action="store_true", help="print the embedded default config and exit")
    p.set_defaults(func=run)
    return p


def _run_dir(out: str | None) -> Path:
    if out:
        return Path(out)
    base = Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")
    path, n = base, 2
    while path.exists():
        path, n = base.with_name(f"{base.name}-{n}"), n + 1
    return path


def run(args: argparse.Namespace) -> int:
    from gradwise.train.config import DEFAULT_CONFIG, ConfigError, load_config

    if args.print_config:
        print(DEFAULT_CONFIG, end="")
        return 0
    overrides = {"train": {"epochs": args.epochs, "seed": args.seed}}
    if args.tensorboard:
        overrides["train"]["tensorboard"] = True
    if args.no_babysit:
        overrides["train"]["babysit"] = False
    try:
        cfg = load_config(args.config, overrides)
        return _train(cfg, args)
    except (ConfigError, FileNotFoundError) as err:
        print(f"gradwise train: error: {err}", file=sys.stderr)
        return EXIT_BAD_CONFIG


def _train(cfg, args: argparse.Namespace) -> int:
    import gradwise
    from gradwise.train import TensorBoardLogger, fit
    from gradwise.train.config import build_data, build_model, build_optimizer, fit_kwargs

    gradwise.manual_seed(cfg["train"]["seed"])          # the initial weights depend on it
    data = build_data(cfg)
    model, choices = build_model(cfg, data)
    optimizer = build_optimizer(cfg, model)
    kwargs = fit_kwargs(cfg, data, optimizer)
    run_dir = _run_dir(args.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    _save_config(cfg, run_dir)

    print(f"config: {cfg.source}")
    print(f"data: {data.description}")
    for note in data.notes:
        print(f"  {note}")
    print(f"model: {model}")
    print(f"  {gradwise.summary(model, input_size=data.input_shape, batch_dim=0, verbose=0).short()}")
    for choice in choices:
        print(f"  init {choice}")
    print(f"optimizer: {type(optimizer).__name__}(lr={cfg['optim']['lr']:g}); loss: {kwargs['loss']}; "
          f"up to {kwargs['epochs']} epochs of batches of {kwargs['batch_size']}")
    print(f"logs: {run_dir}/")
    callbacks = [TensorBoardLogger()] if cfg["train"]["tensorboard"] else []
    start = time.perf_counter()
    history = fit(model, data.train, data.val, log_dir=run_dir, callbacks=callbacks, resume=args.resume,
                  progress=not args.no_progress, **kwargs)
    seconds = time.perf_counter() - start
    _print_summary(history, seconds)
    if args.no_report:
        return 0
    return _render_report(run_dir)


def _save_config(cfg, run_dir: Path) -> None:
    import json

    (run_dir / "config.json").write_text(json.dumps({"source": cfg.source, **cfg}, indent=2) + "\n", encoding="utf-8")


def _print_summary(history, seconds: float) -> None:
    print()
    if not history.records:
        print(f"no epoch completed: {history.stop_reason}")
        return
    last = history.records[-1]
    shown = "  ".join(f"{k} {last[k]:.4f}" for k in ("loss", "accuracy", "val_loss", "val_accuracy")
                      if last.get(k) is not None)
    print(f"trained {len(history.records)} epoch(s) in {seconds:.1f}s; last epoch: {shown}")
    print(f"stopped: {history.stop_reason}")
    best = history.best_epoch
    if best is not None:
        rec = history.records[best - 1]
        acc = f", val_accuracy {rec['val_accuracy']:.4f}" if rec.get("val_accuracy") is not None else ""
        print(f"best epoch (lowest val_loss): {best} - val_loss {rec['val_loss']:.4f}{acc}")
    checks = [c for c in history.checks if c.status in ("warn", "fail")]
    skipped = sum(c.status == "skip" for c in history.checks)
    print(f"babysitter: {len(history.checks)} check(s) recorded, {len(checks)} warning(s)/failure(s)"
          + (f", {skipped} skipped" if skipped else "") if history.checks else "babysitter: no checks recorded")
    if history.diagnosis is not None:
        print("learning-curve diagnosis:")
        print("\n".join(f"  {line}" for line in str(history.diagnosis).splitlines()))
    elif history.diagnosis_note:
        print(history.diagnosis_note)


def _render_report(run_dir: Path) -> int:
    try:
        import gradwise.report as report
    except ImportError:
        return 0
    render = getattr(report, "render", None)
    if render is None:
        return 0
    try:
        path = render(run_dir)
    except Exception as err:   # the run itself succeeded; say what failed and where the logs are
        print(f"gradwise train: the report could not be rendered ({type(err).__name__}: {err}); the logs are in "
              f"{run_dir}/", file=sys.stderr)
        return 1
    print(f"report: {path if path is not None else run_dir / 'report.html'}")
    return 0


__all__ = ["register", "run"]
