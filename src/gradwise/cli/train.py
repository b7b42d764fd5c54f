"""`gradwise train [CONFIG.toml]`: train a model with babysitting, logs, checkpoints, a diagnosis and a report.

Without a config it runs the embedded digits job (``gradwise train --print-config`` shows it; a partial
config changes only the keys it gives): the lecture's babysitting recipe end to end - inputs
standardized with training statistics only, an MLP initialised for its activations, Adam, a stratified
validation split, the automatic checks while training, early stopping on the validation loss, then the
learning-curve diagnosis and, when ``gradwise.report`` is installed, ``report.html``.  Logs go to
``runs/<timestamp>/`` (or ``--out``; with ``--resume RUN/checkpoints/last.npz``, to ``RUN``).

Everything that can be checked is checked before the first file is written: the config, the output
folder, and for ``--resume`` the checkpoint file, the model architecture, the solver and its state, the
schedule and the run's own ``config.json`` - a resume that cannot work leaves the run folder untouched.
Exit status: 0 done; 1 the run failed (diverged to NaN/inf, a write failed); 2 a config/usage error;
130 on Ctrl-C and 143 on SIGTERM, after a message naming the command that resumes the run.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import shlex
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from gradwise.cli.errors import CLIError, UsageError, describe_os_error, interrupt_status, terminate_as_interrupt

EXIT_BAD_CONFIG = 2


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``train`` sub-command to the ``gradwise`` parser."""
    p = subparsers.add_parser("train", help="train a model from a TOML config (default: the embedded digits run) "
                              "with babysitting, logs, a diagnosis and a report",
                              description=__doc__.splitlines()[0].split(": ", 1)[1])
    p.add_argument("config", nargs="?", metavar="CONFIG.toml", help="run description (default: the digits run)")
    p.add_argument("--out", metavar="DIR", help="log directory (default: runs/<timestamp>, or the resumed run's)")
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


def _run_dir(args: argparse.Namespace) -> Path:
    """``--out``; else the folder of the run being resumed (``RUN`` of ``RUN/checkpoints/last.npz``); else a
    new ``runs/<timestamp>``."""
    if args.out:
        return Path(args.out)
    if args.resume and _owning_run(Path(args.resume)) is not None:
        return _owning_run(Path(args.resume))
    base = Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")
    path, n = base, 2
    while path.exists():
        path, n = base.with_name(f"{base.name}-{n}"), n + 1
    return path


def _owning_run(checkpoint: Path) -> Path | None:
    """The run folder a checkpoint belongs to (``RUN`` for ``RUN/checkpoints/x.npz``), or None."""
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else None


def run(args: argparse.Namespace) -> int:
    """Train as the config says; every failure ends in one message (see :mod:`gradwise.cli.errors`)."""
    from gradwise.train.config import DEFAULT_CONFIG, load_config

    if args.print_config:
        print(DEFAULT_CONFIG, end="")
        return 0
    overrides = {"train": {"epochs": args.epochs, "seed": args.seed}}
    if args.tensorboard:
        overrides["train"]["tensorboard"] = True
    if args.no_babysit:
        overrides["train"]["babysit"] = False
    cfg = load_config(args.config, overrides)
    state: dict[str, Any] = {"run_dir": None}
    with terminate_as_interrupt():
        try:
            return _train(cfg, args, state)
        except KeyboardInterrupt as exc:
            return _interrupted(exc, args, state)


def _train(cfg, args: argparse.Namespace, state: dict[str, Any]) -> int:
    import gradwise
    from gradwise.train import TensorBoardLogger, fit
    from gradwise.train.config import build_data, build_model, build_optimizer, fit_kwargs

    run_dir = _run_dir(args)
    _check_output_dir(run_dir)
    gradwise.manual_seed(cfg["train"]["seed"])          # the initial weights depend on it
    data = build_data(cfg)
    model, choices = build_model(cfg, data)
    optimizer = build_optimizer(cfg, model)
    kwargs = fit_kwargs(cfg, data, optimizer)
    try:
        callbacks = [TensorBoardLogger()] if cfg["train"]["tensorboard"] else []
    except ImportError as err:
        raise UsageError(f"--tensorboard / [train] tensorboard: {err}") from None
    if args.resume:
        done = _check_resume(Path(args.resume), cfg, model, kwargs)
        if done >= kwargs["epochs"]:
            print(f"nothing to do: {args.resume} already holds {done} of the {kwargs['epochs']} epochs asked for; "
                  f"to train further, ask for more (--epochs N with N > {done}); nothing was written")
            return 0

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
    state["run_dir"] = run_dir                          # from here on files are written
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        _save_config(cfg, run_dir)
        start = time.perf_counter()
        history = fit(model, data.train, data.val, log_dir=run_dir, callbacks=callbacks, resume=args.resume,
                      progress=not args.no_progress, **kwargs)
    except OSError as err:
        raise _write_failed(err, args, run_dir) from None
    seconds = time.perf_counter() - start
    state["finished"] = True
    _print_summary(history, seconds)
    status = 0 if args.no_report else _render_report(run_dir)
    if _diverged(history.stop_reason):
        raise CLIError(f"the run diverged - {history.stop_reason}; its logs are in {run_dir}/")
    return status


# ============================================================================= checks before writing
def _check_output_dir(run_dir: Path) -> None:
    """Refuse, before anything is written, a log folder that cannot be created or written."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"--out {run_dir}: is a regular file, not a directory; choose another --out")
    existing = run_dir
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"--out {run_dir}: {existing} is a regular file, so {run_dir} cannot be a directory; "
                         "choose another --out")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--out {run_dir}: {existing} is not writable (permission denied or a read-only file "
                         "system); make it writable or choose another --out")


def _check_resume(path: Path, cfg, model: Any, kwargs: dict[str, Any]) -> int:
    """Check that ``fit(..., resume=path)`` will work, writing nothing; returns the epochs the checkpoint holds.

    In order: the file reads back whole (a truncated or corrupt file raises ``CheckpointError``); the
    config equals the run's own ``config.json`` in every key a resumed run must keep; the weights fit the
    model (names and shapes); the solver is the one that wrote the state, and the state loads; the
    schedule matches.  Each failure is a :class:`UsageError` naming the difference and what to do.
    """
    from gradwise.train.checkpoint import load_checkpoint, scheduler_states
    from gradwise.train.config import build_optimizer

    if path.is_dir():
        raise UsageError(f"--resume {path}: is a folder; give a checkpoint file in it, e.g. {path / 'last.npz'}")
    if not path.is_file():
        raise UsageError(f"--resume {path}: no such checkpoint file (a run keeps RUN/checkpoints/last.npz, the "
                         "newest, and best.npz)")
    state = load_checkpoint(path)
    _check_same_config(path, cfg)
    engine = state.get("engine", "gradwise")
    if engine != "gradwise":
        raise UsageError(f"--resume {path}: the checkpoint is of a {engine} model; `gradwise train` trains "
                         "gradwise models")
    probe = copy.deepcopy(model)
    try:
        probe.load_state_dict(state["model"])
    except (RuntimeError, KeyError, ValueError, TypeError) as err:
        lines = [line.strip().rstrip(".") for line in str(err).splitlines()[1:] if line.strip()]
        detail = "; ".join(lines[:2]) + (f"; and {len(lines) - 2} more" if len(lines) > 2 else "") if lines else str(err)
        raise UsageError(f"--resume {path}: the checkpoint's weights do not fit the model of this config ({detail}); "
                         "resume with the [model] the run was trained with") from None
    solver = build_optimizer(cfg, probe)
    saved = state["optimizer"]
    saved_keys = _group_keys(saved.get("param_groups", []))
    if _signature(saved.get("param_groups", [])) != _signature(solver.state_dict()["param_groups"]):
        was = _solver_with(_signature(saved.get("param_groups", [])))
        raise UsageError(f"--resume {path}: the checkpoint was written by {was}, this config trains with "
                         f"{type(solver).__name__}; resume with [optim] name = {_config_name(was)!r}" if was else
                         f"--resume {path}: the checkpoint's solver state (hyper-parameters "
                         f"{', '.join(sorted(saved_keys))}) is not {type(solver).__name__}'s")
    try:
        solver.load_state_dict(saved)
    except (ValueError, KeyError, TypeError) as err:
        raise UsageError(f"--resume {path}: the checkpoint's solver state does not fit {type(solver).__name__} "
                         f"on this model ({err})") from None
    schedulers = 1 if kwargs.get("scheduler") is not None else 0
    saved_schedulers = len(scheduler_states(state))
    if saved_schedulers != schedulers:
        raise UsageError(f"--resume {path}: the checkpoint has {saved_schedulers} learning-rate "
                         f"scheduler(s), this config {schedulers}; resume with the run's [schedule] kind")
    return int(state.get("epoch", 0))


def _check_same_config(path: Path, cfg) -> None:
    """The keys a resumed run must keep (data, model, solver, schedule, batch size, seed, loss) must equal
    those of the checkpoint's run (its ``config.json``, beside ``checkpoints/``; skipped when there is none:
    the weights and the solver state are still checked)."""
    from gradwise.train.config import resume_differences

    owner = _owning_run(path)
    saved_path = owner / "config.json" if owner is not None else None
    if saved_path is None or not saved_path.is_file():
        return
    try:
        saved = json.loads(saved_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UsageError(f"--resume {path}: the run's {saved_path} cannot be read ({err}); restore it, or resume "
                         "from a copy of the checkpoint outside the run folder") from None
    changes = resume_differences(saved, cfg)
    if changes:
        raise UsageError(f"--resume {path}: this config differs from the run's own ({saved_path}) where a resumed "
                         f"run must keep its settings: {'; '.join(changes)}; resume with the run's config (only "
                         "[train] epochs, patience, target, time_budget and logging may change), or start a new "
                         "run with --out NEW_DIR")


def _group_keys(groups: list) -> frozenset[str]:
    """The hyper-parameter names of a solver's param groups (what tells Adam's state from SGD's)."""
    keys: set[str] = set()
    for group in groups:
        keys |= set(group) - {"params", "param_names", "initial_lr"}
    return frozenset(keys)


def _signature(groups: list) -> tuple[frozenset[str], bool]:
    """Which solver wrote these param groups: their keys, and whether weight decay is decoupled (AdamW vs Adam)."""
    return _group_keys(groups), bool(groups and groups[0].get("decoupled_weight_decay", False))


def _solver_with(signature: tuple[frozenset[str], bool]) -> str | None:
    """The class name of gradwise's solver whose default param groups have this signature (``"Adam"``), or None."""
    import gradwise.nn as nn
    import numpy as np
    from gradwise.train.fit import optimizers

    stand_in = nn.Parameter(np.zeros(1, np.float32))
    for cls in optimizers().values():
        try:
            groups = cls([stand_in]).state_dict()["param_groups"]
        except Exception:   # noqa: BLE001 - a solver that needs more arguments is simply not a candidate
            continue
        if _signature(groups) == signature:
            return cls.__name__
    return None


def _config_name(class_name: str | None) -> str | None:
    from gradwise.train.fit import optimizers

    return next((n for n, c in optimizers().items() if c.__name__ == class_name), class_name)


# ============================================================================= after fit
def _diverged(stop_reason: str | None) -> bool:
    """True when the run stopped on a NaN/inf loss or validation result (the babysitter's nan_inf included)."""
    reason = stop_reason or ""
    return reason.startswith("non-finite") or reason.startswith("babysitter: nan_inf")


def _command(args: argparse.Namespace, run_dir: Path, resume: Path | None) -> str:
    """The ``gradwise train`` command that continues (``resume``) or restarts this run with the same settings."""
    parts = ["gradwise", "train"]
    if args.config:
        parts.append(str(args.config))
    if args.epochs is not None:
        parts += ["--epochs", str(args.epochs)]
    if args.seed is not None:
        parts += ["--seed", str(args.seed)]
    if args.no_babysit:
        parts.append("--no-babysit")
    if args.tensorboard:
        parts.append("--tensorboard")
    if resume is None or _owning_run(resume) != run_dir:
        parts += ["--out", str(run_dir)]
    if resume is not None:
        parts += ["--resume", str(resume)]
    return shlex.join(parts)


def _interrupted(exc: KeyboardInterrupt, args: argparse.Namespace, state: dict[str, Any]) -> int:
    """Ctrl-C or SIGTERM: say where the run stopped and the command that continues it; exit 130 or 143."""
    run_dir = state.get("run_dir")
    checkpoint = getattr(exc, "gradwise_checkpoint", None)
    epoch = getattr(exc, "gradwise_epoch", None)
    print(file=sys.stderr)
    if run_dir is None:
        print("interrupted before training began; nothing was written", file=sys.stderr)
    elif state.get("finished"):
        print(f"interrupted after training finished; the run is complete in {run_dir}/ (`gradwise report "
              f"{shlex.quote(str(run_dir))}` renders its report)", file=sys.stderr)
    elif checkpoint is not None:
        print(f"interrupted at epoch {epoch}; resume with: {_command(args, run_dir, Path(checkpoint))}",
              file=sys.stderr)
    else:
        where = f"at epoch {epoch}" if epoch else "before the first epoch"
        print(f"interrupted {where}, before any checkpoint was written; start again with: "
              f"{_command(args, run_dir, None)}", file=sys.stderr)
    return interrupt_status()


def _write_failed(err: OSError, args: argparse.Namespace, run_dir: Path) -> CLIError:
    """A write that failed while training (disk full, read-only, permission): the message, and how to resume."""
    from gradwise.train.checkpoint import CheckpointError, load_checkpoint

    text, status = describe_os_error(err)
    if not err.filename:
        text = text.replace(":", f" (writing the run in {run_dir}/):", 1)
    last = run_dir / "checkpoints" / "last.npz"
    try:   # checkpoints are replaced atomically: the newest complete one survives the failed write
        epoch = int(load_checkpoint(last).get("epoch", 0)) if last.is_file() else None
    except (CheckpointError, OSError):
        epoch = None
    if epoch:
        text += f"; the checkpoint of epoch {epoch} is intact - once fixed, resume with: {_command(args, run_dir, last)}"
    else:
        text += f"; no checkpoint was written yet - once fixed, start again with: {_command(args, run_dir, None)}"
    return CLIError(text, status)


def _save_config(cfg, run_dir: Path) -> None:
    from gradwise.train.checkpoint import atomic_write

    text = json.dumps({"source": cfg.source, **cfg}, indent=2) + "\n"
    atomic_write(run_dir / "config.json", lambda f: f.write(text.encode("utf-8")))


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
