"""Live diagnosis as an early stopper, against Keras' EarlyStopping(patience=6, restore_best_weights=True),
replayed epoch by epoch on recorded runs.

For every run with a validation curve: the patience stopper stops once the raw validation loss has not beaten
its lowest value for 6 epochs and restores that lowest epoch; ``early_stopping="diagnosis"``
(:class:`gradwise.diagnose.LiveDiagnosis`) stops when :func:`gradwise.diagnose.should_stop` says so and restores
``best_epoch`` (lowest 3-epoch mean).  A run neither stops is trained to its end.  Reported: how often the
diagnosis stops earlier / at the same epoch (never later: the patience rule is its floor), epochs saved, and the
loss at the restored epoch - the validation loss in the file (raw, and as its 3-epoch mean) and the hidden
true test loss where the run stored it (the honest measure: the raw validation minimum is biased low by the
selection itself).

    python bench/diagnose_corpus/live_stopping.py [--sets dev,tuning,...] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus import DEVELOPMENT_SETS, featurise, load_set  # noqa: E402

from gradwise.diagnose import LiveDiagnosis  # noqa: E402
from gradwise.diagnose.smoothing import mean3  # noqa: E402


def patience_stop(v: list[float], patience: int = 6) -> tuple[int, int]:
    """(stop index, restored index) of Keras' EarlyStopping(patience, restore_best_weights=True)."""
    best, best_i, wait = np.inf, 0, 0
    for i, x in enumerate(v):
        if x < best:
            best, best_i, wait = x, i, 0
        else:
            wait += 1
            if wait >= patience:
                return i, best_i
    return len(v) - 1, best_i


def replay(h, **kw) -> tuple[int, int, float]:
    """(stop index, restored index, seconds per epoch) of the live diagnosis on history ``h``, fed each epoch's
    record as ``fit`` would: the losses and, where the file has them, the accuracies."""
    live = LiveDiagnosis(**kw)
    epochs = list(h["epoch"])
    keys = [k for k in ("loss", "val_loss", "accuracy", "val_accuracy") if k in h]
    t0 = time.perf_counter()
    for i, e in enumerate(epochs):
        stop, _, restore = live.update({"epoch": e, **{k: h[k][i] for k in keys}})
        if stop:
            return i, epochs.index(restore), (time.perf_counter() - t0) / (i + 1)
    return len(epochs) - 1, epochs.index(_best(live)), (time.perf_counter() - t0) / len(epochs)


def _best(live: LiveDiagnosis):
    from gradwise.diagnose import best_epoch
    return best_epoch(live.records)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default=",".join(DEVELOPMENT_SETS))
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--min-confidence", type=float, default=None)
    ap.add_argument("--min-after", type=int, default=None)
    ap.add_argument("--min-epochs", type=int, default=None)
    args = ap.parse_args(argv)
    rows = []
    for s in args.sets.split(","):
        for r in featurise(load_set(s)):
            if r.error or not r.features.has_validation:
                continue
            h = r.history
            v = list(h["val_loss"])
            p_stop, p_rest = patience_stop(v)
            kw = {k: v for k, v in (("min_confidence", args.min_confidence),
                                    ("min_epochs_after_best", args.min_after), ("min_epochs", args.min_epochs))
                  if v is not None}
            d_stop, d_rest, spe = replay(h, **kw)
            row = {"set": s, "run": r.name, "label": r.label, "verified": r.verified, "epochs": len(v),
                   "patience_stop": p_stop, "patience_restore": p_rest, "diag_stop": d_stop, "diag_restore": d_rest,
                   "val_patience": v[p_rest], "val_diag": v[d_rest],
                   "val3_patience": float(mean3(v)[p_rest]), "val3_diag": float(mean3(v)[d_rest]),
                   "seconds_per_epoch": spe}
            if r.true_loss is not None:
                eps = list(h["epoch"])
                t = r.true_loss
                row["true_patience"] = t[eps[p_rest] - r.first_epoch]
                row["true_diag"] = t[eps[d_rest] - r.first_epoch]
                row["true_best"] = float(np.min(t))
            rows.append(row)
        print(f"{s}: {sum(1 for x in rows if x['set'] == s)} runs replayed", flush=True)
    summarise(rows)
    if args.json:
        args.json.write_text(json.dumps(rows))
    return 0


def summarise(rows: list[dict]) -> dict:
    out = {}
    for group, sel in [("all runs", rows), ("overfit runs", [r for r in rows if r["label"] == "overfit"]),
                       ("other runs", [r for r in rows if r["label"] != "overfit"])]:
        if not sel:
            continue
        later = sum(r["diag_stop"] > r["patience_stop"] for r in sel)
        earlier = sum(r["diag_stop"] < r["patience_stop"] for r in sel)
        saved = sum(r["patience_stop"] - r["diag_stop"] for r in sel)
        total = sum(r["patience_stop"] + 1 for r in sel)
        t = [r for r in sel if "true_diag" in r]
        t_ok = sum(r["true_diag"] <= r["true_patience"] * (1 + 1e-9) for r in t)
        t_rel = [r["true_diag"] / r["true_patience"] - 1 for r in t]
        v_ok = sum(r["val_diag"] <= r["val_patience"] * (1 + 1e-9) for r in sel)
        v3_ok = sum(r["val3_diag"] <= r["val3_patience"] * (1 + 1e-9) for r in sel)
        same = sum(r["diag_restore"] == r["patience_restore"] for r in sel)
        out[group] = dict(runs=len(sel), later=later, earlier=earlier, epochs_saved=saved, epochs_patience=total,
                          same_restore=same, raw_val_same_or_better=v_ok, mean3_val_same_or_better=v3_ok,
                          true_runs=len(t), true_same_or_better=t_ok,
                          true_rel_median=float(np.median(t_rel)) if t_rel else None,
                          true_rel_worst=float(np.max(t_rel)) if t_rel else None,
                          true_rel_mean=float(np.mean(t_rel)) if t_rel else None,
                          ms_per_epoch=1000 * float(np.median([r["seconds_per_epoch"] for r in sel])))
        o = out[group]
        print(f"{group}: {o['runs']} runs; diagnosis stops later {later}, earlier {earlier} "
              f"(saves {saved} of {total} epochs, {saved / max(total, 1):.1%}); restores the same epoch in {same}; "
              f"raw val loss at restore same-or-better {v_ok}/{len(sel)}, 3-epoch mean same-or-better {v3_ok}/{len(sel)}; "
              f"true test loss same-or-better {t_ok}/{len(t)} (median {o['true_rel_median'] or 0:+.2%}, "
              f"mean {o['true_rel_mean'] or 0:+.2%}, worst {o['true_rel_worst'] or 0:+.2%}); "
              f"{o['ms_per_epoch']:.1f} ms per epoch")
    return out


if __name__ == "__main__":
    sys.exit(main())
