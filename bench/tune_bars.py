"""Measure the bars of the hyper-parameter search issue on the embedded digits (about 5-15 minutes on 2 cores).

1. **A 30-trial search beats the default configuration.**  The default configuration is the base of the
   embedded digits search - exactly ``gradwise train``'s default run (MLP 128-64 ReLU, He init, Adam 1e-3,
   batch 64, up to 30 epochs, early stopping with patience 6).  It is trained once through the same
   objective as every trial and scored the same way: the best validation accuracy over its epochs (also
   shown: the accuracy at its lowest validation loss, what ``gradwise train`` reports).  The search
   (TPE, median pruning, seed 0, 2 worker processes) chooses its best trial on validation accuracy.
2. **Pruning saves at least a third of the epochs.**  The same search (space, sampler, seed, trial count)
   is run again without a pruner; the epochs trained by all trials are counted in both.
3. **Resuming an interrupted study finishes the same set of trials.**  A 12-trial search is run straight
   through; the same search is started in a separate process, killed with SIGKILL once 4 trials have
   finished (its running trial is left RUNNING in the SQLite study), then resumed with the same command.
   The resumed study's trials (parameters and values, in order) must equal the uninterrupted one's.
4. Every trial of every search carries a diagnosis in the results table (checked and counted).

Run: ``.venv/bin/python bench/tune_bars.py [--out runs/tune-bars] [--trials 30] [--metric val_accuracy]``.
The figures are printed and written to ``<out>/bars.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from gradwise.tune import load_tune_config, run_configuration, tune
from gradwise.tune.study import make_storage, open_study, quiet_optuna


def signature(result):
    return [(r.params, r.value if r.state == "complete" else ("pruned", r.epochs_run))
            for r in sorted(result.rows, key=lambda r: r.number) if r.state != "fail"]


def search(cfg, run_dir: Path, pruner: str, n_trials: int, n_jobs: int):
    shutil.rmtree(run_dir, ignore_errors=True)
    start = time.perf_counter()
    result = tune(cfg, run_dir=run_dir, n_trials=n_trials, n_jobs=n_jobs, pruner=pruner, progress=True)
    seconds = time.perf_counter() - start
    diagnosed = sum(1 for r in result.rows if r.notes)
    print(result.table(width=170))
    return result, seconds, diagnosed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/tune-bars")
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--metric", default="val_accuracy", choices=("val_accuracy", "val_loss"))
    ap.add_argument("--resume-trials", type=int, default=12)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    quiet_optuna()
    cfg = load_tune_config(None, {"tune": {"metric": args.metric, "seed": 0}})
    figures: dict = {"trials": args.trials, "metric": args.metric, "n_jobs": args.jobs}

    # ---------------------------------------------------------------- 1. default configuration
    t = time.perf_counter()
    default = run_configuration(cfg, {}, run_dir=out / "default")
    at_best_loss = min(range(len(default["curves"]["val_loss"])), key=lambda i: default["curves"]["val_loss"][i])
    figures["default"] = {
        "val_accuracy_best_epoch": max(default["curves"]["val_accuracy"]),
        "val_accuracy_at_lowest_val_loss": default["curves"]["val_accuracy"][at_best_loss],
        "val_loss_best": min(default["curves"]["val_loss"]), "epochs": default["epochs_run"],
        "seconds": round(time.perf_counter() - t, 1), "notes": default["notes"]}
    print(f"default configuration: {figures['default']}")

    # ---------------------------------------------------------------- 2. search with and without pruning
    pruned, sec_p, diag_p = search(cfg, out / "search-median", "median", args.trials, args.jobs)
    unpruned, sec_n, diag_n = search(cfg, out / "search-nopruning", "none", args.trials, args.jobs)
    best = pruned.best
    figures["search_median"] = {
        "best_trial": best.number, "best_val_accuracy": best.val_accuracy, "best_val_loss": best.val_loss,
        "best_params": best.params, "best_notes": best.notes, "counts": pruned.counts(), "epochs": pruned.epochs(),
        "seconds": round(sec_p, 1), "trials_with_diagnosis": diag_p, "importance": pruned.importance}
    figures["search_nopruning"] = {
        "best_trial": unpruned.best.number, "best_val_accuracy": unpruned.best.val_accuracy,
        "best_val_loss": unpruned.best.val_loss, "counts": unpruned.counts(), "epochs": unpruned.epochs(),
        "seconds": round(sec_n, 1), "trials_with_diagnosis": diag_n}
    saved = 1 - pruned.epochs() / unpruned.epochs()
    figures["pruning_epoch_saving"] = round(saved, 4)
    beats = best.val_accuracy > figures["default"]["val_accuracy_best_epoch"]

    # ---------------------------------------------------------------- 3. interrupt (SIGKILL) and resume
    small = load_tune_config(None, {"tune": {"metric": args.metric, "seed": 0, "n_trials": args.resume_trials,
                                             "n_jobs": 1}, "train": {"epochs": 10}})
    straight_dir, resumed_dir = out / "resume-straight", out / "resume-interrupted"
    for d in (straight_dir, resumed_dir):
        shutil.rmtree(d, ignore_errors=True)
    straight = tune(small, run_dir=straight_dir, progress=False, report=False)
    cmd = [sys.executable, "-m", "gradwise", "tune", "--out", str(resumed_dir), "--n-trials", str(args.resume_trials),
           "--n-jobs", "1", "--epochs", "10", "--metric", args.metric, "--seed", "0", "--no-progress", "--no-report"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = resumed_dir / "study.db"
    finished_at_kill = 0
    while proc.poll() is None:
        time.sleep(0.2)
        if db.exists():
            try:
                study = open_study(small, make_storage(f"sqlite:///{db.resolve()}"))
                finished_at_kill = sum(t.state.name in ("COMPLETE", "PRUNED") for t in study.get_trials())
            except Exception:   # the study is being created
                continue
            if finished_at_kill >= 4:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                break
    study = open_study(small, make_storage(f"sqlite:///{db.resolve()}"))
    left_running = [t.number for t in study.get_trials() if t.state.name == "RUNNING"]
    resumed = tune(small, run_dir=resumed_dir, progress=False, report=False)
    same = signature(resumed) == signature(straight)
    figures["resume"] = {"trials": args.resume_trials, "finished_before_kill": finished_at_kill,
                         "left_running_by_kill": left_running, "requeued": resumed.reclaimed,
                         "same_trials_as_uninterrupted": same,
                         "counted_after_resume": sum(r.state != "fail" for r in resumed.rows)}

    # ---------------------------------------------------------------- summary
    d = figures["default"]
    print()
    print(f"[bar 1] default configuration: val_accuracy {d['val_accuracy_best_epoch']:.4f} (best epoch; "
          f"{d['val_accuracy_at_lowest_val_loss']:.4f} at its lowest val_loss); {args.trials}-trial search best: "
          f"val_accuracy {best.val_accuracy:.4f} (trial {best.number}) -> {'BEATS' if beats else 'does NOT beat'}")
    print(f"[bar 2] epochs: {pruned.epochs()} with median pruning vs {unpruned.epochs()} without -> "
          f"{saved:.1%} saved ({'>=' if saved >= 1 / 3 else '<'} 33.3%)")
    print(f"[bar 3] resume: killed after {finished_at_kill} finished trials (left RUNNING: {left_running}, re-queued: "
          f"{resumed.reclaimed}); same trials as uninterrupted: {same}")
    print(f"[bar 4] trials with a diagnosis: {diag_p}/{len(pruned.rows)} (pruning search), "
          f"{diag_n}/{len(unpruned.rows)} (no pruning)")
    figures["bars"] = {"search_beats_default": beats, "pruning_saves_a_third": saved >= 1 / 3, "resume_same": same,
                       "all_trials_diagnosed": diag_p == len(pruned.rows) and diag_n == len(unpruned.rows)}
    (out / "bars.json").write_text(json.dumps(figures, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"figures: {out / 'bars.json'}")
    return 0 if all(figures["bars"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
