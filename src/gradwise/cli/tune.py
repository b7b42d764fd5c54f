"""`gradwise tune [CONFIG.toml]`: search hyper-parameters on validation data, every trial babysat and diagnosed.

Without a config it runs a small search on the embedded digits (``gradwise tune --print-config`` shows
it: 30 TPE trials of up to 30 epochs, median pruning, 2 worker processes - about a minute on 2 idle cores).  While it runs, one
line shows the trials done, pruned, failed and running, and the best validation score so far; at the end
the results table lists every trial with its diagnosis ("overfit from epoch 14", "dead ReLUs 62% in
layer 2", "diverged: lr too high").  Results, pictures and report.html go to ``runs/tune-<timestamp>/``
(or ``--out``); running the same command with the same ``--out`` resumes an interrupted search.
``--worker`` joins a study another machine started (same ``--storage``) and only runs trials.
A config's ``[model] factory = "mypkg.models:build"`` searches your own model, gradwise or PyTorch
(see :mod:`gradwise.tune.factory`); ``--device cuda`` trains PyTorch models on the GPU.
Config errors print one line naming the key and exit with status 2; so does adding trials to a study whose
stored settings (seed, sampler, pruner, epochs, data, space ...) differ, unless ``--force``.
Ctrl-C or SIGTERM stops the worker processes too (never an orphan left training; a SIGKILLed parent's
workers stop by themselves), re-queues their running trials and exits 130/143 with the command that
resumes the search.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from gradwise.cli.errors import interrupt_name, interrupt_status, terminate_as_interrupt

EXIT_BAD_CONFIG = 2


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``tune`` sub-command to the ``gradwise`` parser."""
    p = subparsers.add_parser("tune", help="search hyper-parameters (Optuna) with every trial babysat and diagnosed; "
                              "default: a small search on the embedded digits",
                              description=__doc__.splitlines()[0].split(": ", 1)[1])
    p.add_argument("config", nargs="?", metavar="CONFIG.toml",
                   help="training config with [tune] and [tune.space] (default: the digits search)")
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/tune-<timestamp>); an existing one "
                                                "resumes its search")
    p.add_argument("--n-trials", type=int, help="override [tune] n_trials (the study's total, all workers)")
    p.add_argument("--n-jobs", type=int, help="override [tune] n_jobs (worker processes on this machine)")
    p.add_argument("--sampler", help="override [tune] sampler: tpe, random, grid")
    p.add_argument("--pruner", help="override [tune] pruner: median, halving, hyperband, none")
    p.add_argument("--seed", type=int, help="override [tune] seed")
    p.add_argument("--metric", help="override [tune] metric: val_loss, val_accuracy")
    p.add_argument("--storage", metavar="URL", help="Optuna storage: a database URL, e.g. postgresql://user:pw@host/db "
                                                    "for several machines, or journal:PATH (a file, for several "
                                                    "processes on one machine or NFS); default: "
                                                    "sqlite:///<run dir>/study.db")
    p.add_argument("--study-name", help="override [tune] study_name")
    p.add_argument("--timeout", type=float, help="stop starting trials after this many seconds")
    p.add_argument("--epochs", type=int, help="override [train] epochs (each trial's maximum)")
    p.add_argument("--device", help="override [tune] device: where PyTorch models train (cpu, cuda, cuda:N)")
    p.add_argument("--worker", action="store_true", help="only run trials for the study in --storage (another "
                                                         "machine's search); no table or report")
    p.add_argument("--force", action="store_true", help="add trials to the study even if its stored settings (seed, "
                                                        "sampler, pruner, epochs, data, space ...) differ")
    p.add_argument("--no-progress", action="store_true", help="no progress line")
    p.add_argument("--no-report", action="store_true", help="do not write the pictures and report.html")
    p.add_argument("--print-config", action="store_true", help="print the embedded digits search config and exit")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from gradwise.train.config import ConfigError

    try:
        from gradwise.tune.config import DEFAULT_TUNE_CONFIG, load_tune_config
    except ImportError as err:
        print(f"gradwise tune: error: {err}", file=sys.stderr)
        return 1
    if args.print_config:
        print(DEFAULT_TUNE_CONFIG, end="")
        return 0
    overrides = {"tune": {"n_trials": args.n_trials, "n_jobs": args.n_jobs, "sampler": args.sampler,
                          "pruner": args.pruner, "seed": args.seed, "metric": args.metric, "storage": args.storage,
                          "study_name": args.study_name, "timeout": args.timeout, "device": args.device},
                 "train": {"epochs": args.epochs}}
    try:
        cfg = load_tune_config(args.config, overrides)
    except (ConfigError, FileNotFoundError) as err:
        print(f"gradwise tune: error: {err}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    with terminate_as_interrupt():     # SIGTERM ends the search as Ctrl-C does: workers stopped, trials re-queued
        if args.worker:
            return _worker(cfg, args)
        return _search(cfg, args)


#: Options that `gradwise tune` passes on when it prints the command that resumes a search.
_RESUME_OPTIONS = (("n_trials", "--n-trials"), ("n_jobs", "--n-jobs"), ("sampler", "--sampler"),
                   ("pruner", "--pruner"), ("seed", "--seed"), ("metric", "--metric"), ("storage", "--storage"),
                   ("study_name", "--study-name"), ("timeout", "--timeout"), ("epochs", "--epochs"),
                   ("device", "--device"))


def resume_command(args: argparse.Namespace, run_dir: Path | None) -> str:
    """The command that resumes this search: the same options, with ``--out`` naming the run directory (so
    that a search started without ``--out`` continues in its own directory rather than a new one)."""
    words = ["gradwise", "tune"] + ([args.config] if args.config else [])
    for attr, flag in _RESUME_OPTIONS:
        value = getattr(args, attr, None)
        if value is not None:
            words += [flag, str(value)]
    if run_dir is not None:
        words += ["--out", str(run_dir)]
    words += [flag for attr, flag in (("worker", "--worker"), ("force", "--force"), ("no_progress", "--no-progress"),
                                      ("no_report", "--no-report")) if getattr(args, attr, False)]
    return shlex.join(words)


def _search(cfg, args: argparse.Namespace) -> int:
    from gradwise.train.config import ConfigError
    from gradwise.tune.search import default_run_dir, tune

    s = cfg.settings
    run_dir = Path(args.out) if args.out else default_run_dir()
    resumed = (run_dir / "study.db").exists() or (run_dir / "search.json").exists()
    print(f"config: {cfg.source}")
    factory = (cfg.base.get("model") or {}).get("factory")
    if factory is not None:
        from gradwise.tune.factory import factory_name

        print(f"model: built by the factory {factory_name(factory)}" + (f" on {s.device}" if s.device else ""))
    print(f"search: {s.n_trials} trials, {s.sampler} sampler, {s.pruner} pruner, seed {s.seed}, "
          f"{s.n_jobs} worker process(es); objective {s.metric} on validation data")
    print("space:")
    print(cfg.describe())
    print(f"run directory: {run_dir}/" + ("  (resuming: finished trials are kept)" if resumed else ""))
    try:
        result = tune(cfg, run_dir=run_dir, progress=not args.no_progress, report=not args.no_report,
                      force=args.force)
    except ConfigError as err:
        print(f"gradwise tune: error: {err}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    except KeyboardInterrupt:
        from gradwise.tune.study import describe_storage, storage_url

        where = describe_storage(storage_url(cfg, run_dir))
        print(f"\ninterrupted ({interrupt_name()}): finished trials are kept in {where} and running ones re-queued; "
              f"resume with: {resume_command(args, run_dir)}", file=sys.stderr)
        return interrupt_status()
    if result.reclaimed:
        print(f"re-queued interrupted trial(s) {', '.join(map(str, result.reclaimed))}")
    for change in result.settings_changes:
        from gradwise.tune.study import describe_differences

        diff = {k: tuple(v) for k, v in change["changed"].items()}
        print(f"note: this study mixes settings (--force): from trial {change['from_trial']} on, "
              f"{describe_differences(diff)}")
    print()
    print(result.table(width=0))
    counts = result.counts()
    print()
    print(f"{len(result.rows)} trials ({', '.join(f'{n} {k}' for k, n in counts.items())}), {result.epochs()} epochs "
          f"trained in {result.seconds:.0f} s")
    if result.best is None:
        print("no trial completed")
        return 1
    b = result.best
    params = ", ".join(f"{k}={v}" for k, v in b.params.items())
    acc = f", val_accuracy {b.val_accuracy:.4f}" if b.val_accuracy is not None and s.metric != "val_accuracy" else ""
    se = f" ± {b.score_se:.2g}" if b.score_se is not None else ""
    how = (f" (smoothed curve at the kept epoch {b.best_epoch}; raw {b.raw_value:.4f})"
           if b.noise is not None and b.raw_value is not None else f" at epoch {b.best_epoch}")
    print(f"best trial {b.number} (chosen on validation data): {s.metric} {b.value:.4f}{se}{how}{acc}")
    noise = [f"curve {b.noise:.2g} epoch to epoch" if b.noise is not None else None,
             f"validation set ±{b.val_se:.2g} ({b.val_n} examples)" if b.val_se is not None else None]
    if any(noise):
        print(f"  noise: {', '.join(n for n in noise if n)}")
    print(f"  {params}")
    if b.confirmed:
        from gradwise.tune.search import _mean_text

        print(f"  re-trained with seeds {', '.join(map(str, b.confirmed_seeds))}: mean {_mean_text(b, s.direction)}")
    if result.single_best is not None:
        print(f"  crowned over trial {result.single_best.number}, the best single run: {result.choice_note}")
    if result.ranking is not None:
        print(f"  ranking: {result.ranking.sentence(s.metric)}")
    if result.versus_default is not None:
        print(f"  against the default: {result.versus_default.sentence(s.metric)}")
    if result.passed_over is not None:
        print(f"  passed over: trial {result.passed_over.number} ({', '.join(result.passed_over.flags)}), "
              "better by less than its noise")
    if b.notes:
        print(f"  diagnosis: {'; '.join(b.notes)}")
    if result.test:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in result.test.items() if k.startswith("test_"))
        print(f"test set (touched once, after the search): {shown}")
    if result.importance:
        top = sorted(result.importance.items(), key=lambda kv: -kv[1])[:4]
        print("most important: " + ", ".join(f"{k} {v:.2f}" for k, v in top))
    report = run_dir / "report.html"
    if report.exists() and not args.no_report:
        print(f"report: {report}  (pictures: {', '.join(p.name for p in result.files if p.suffix == '.png')})")
    print(f"results: {run_dir / 'results.csv'}")
    return 0


def _worker(cfg, args: argparse.Namespace) -> int:
    """Run trials for an existing study (another machine's search) until its n_trials are done."""
    import time

    from gradwise.train.config import ConfigError
    from gradwise.tune.runner import Progress, run_worker, run_workers, storage_safe_interrupts
    from gradwise.tune.study import (check_settings, describe_storage, make_storage, open_study, quiet_optuna,
                                     reclaim_interrupted, storage_url)

    s = cfg.settings
    if not s.storage:
        print("gradwise tune: error: --worker needs --storage URL (or [tune] storage): the study to join",
              file=sys.stderr)
        return EXIT_BAD_CONFIG
    run_dir = Path(args.out) if args.out else None
    url = storage_url(cfg, run_dir)
    quiet_optuna()
    store = make_storage(url)
    study = open_study(cfg, store)
    try:
        check_settings(study, cfg, force=args.force, where=f" in {describe_storage(url)}")
    except ConfigError as err:
        print(f"gradwise tune: error: {err}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    reclaimed = reclaim_interrupted(study)
    if reclaimed:
        print(f"re-queued interrupted trial(s) {', '.join(map(str, reclaimed))}")
    deadline = time.time() + s.timeout if s.timeout else None
    bar = Progress(s.n_trials, s.metric, enabled=not args.no_progress)
    print(f"worker for study {s.study_name!r} in {describe_storage(url)}: {s.n_jobs} process(es)")
    try:
        with storage_safe_interrupts():
            if s.n_jobs == 1:
                run_worker(cfg, run_dir, store, s.n_trials, deadline, on_trial=bar.update)
            else:
                run_workers(cfg, run_dir, url, s.n_jobs, s.n_trials, deadline, progress=bar)
    except KeyboardInterrupt:
        print(f"\ninterrupted ({interrupt_name()}): this worker's running trials are re-queued for the other workers; "
              f"rejoin with: {resume_command(args, run_dir)}", file=sys.stderr)
        return interrupt_status()
    finally:
        bar.close()
    print("the study has its trials; run `gradwise tune CONFIG --storage URL` (without --worker) on any machine "
          "for the table and report")
    return 0


__all__ = ["register", "run"]
