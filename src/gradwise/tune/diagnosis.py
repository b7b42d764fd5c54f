"""Each trial's babysitting in a few words: what its curves and its checks said, for one row of the results table.

A search that only says "val loss 0.31" hides why a configuration lost.  Every trial is trained with
the babysitter and its curves are diagnosed (``History.checks``, ``History.diagnosis``); this module
condenses both into short notes - ``"overfit from epoch 14"``, ``"dead ReLUs 62% in layer 2"``,
``"diverged: lr too high"``, ``"pruned at epoch 4"`` - and into a JSON record (:func:`trial_record`) that
is stored with the trial in the Optuna storage, so that any worker, machine or later reader of the
study sees the same diagnosis without the trial's files.  The record also carries the trial's noise-proof
score (:mod:`gradwise.tune.scoring`: the smoothed validation curve at the kept epoch, its noise and standard
error) and the flags that keep an erratic or diverging run from being crowned on a lucky value.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["trial_record", "trial_notes", "check_note", "verdict_note", "CURVE_KEYS"]

#: Per-epoch keys kept with each trial (for the overlaid learning curves).
CURVE_KEYS = ("epoch", "loss", "val_loss", "accuracy", "val_accuracy", "lr")
_MESSAGE_LIMIT = 240


def verdict_note(verdict: str | None, best_epoch: Any, epochs_run: int) -> str | None:
    """The curve diagnosis as a short phrase (None without a diagnosis)."""
    if verdict is None:
        return None
    best = f"{best_epoch:g}" if isinstance(best_epoch, (int, float)) else None
    if verdict == "overfit":
        return f"overfit from epoch {best}" if best else "overfit"
    if verdict == "underfit":
        if best is not None and isinstance(best_epoch, (int, float)) and best_epoch >= epochs_run - 1:
            return "underfit: still improving at the end"
        return "underfit"
    if verdict == "good_fit":
        return "good fit"
    if verdict == "unrepresentative_train":
        return "train/val gap: training set unrepresentative"
    if verdict == "unrepresentative_validation":
        return "validation curve noisy or below training"
    return verdict.replace("_", " ")


def check_note(check: Mapping[str, Any]) -> str:
    """One failing or warning babysitter check as a short phrase with its main number."""
    name = check.get("name", "")
    ev = check.get("evidence") or {}
    symptom = ev.get("symptom")
    if name == "dead_relu":
        fractions = ev.get("dead_fraction") or {}
        bad = ev.get("layers") or []
        order = list(fractions)
        if bad:
            worst = max(bad, key=lambda k: fractions.get(k, 0))
            return f"dead ReLUs {fractions.get(worst, 0):.0%} in layer {order.index(worst) + 1 if worst in order else worst}"
        return "dead ReLUs"
    if name == "saturation":
        fractions = ev.get("saturated_fraction") or {}
        bad = ev.get("layers") or [k for k in fractions]
        order = list(fractions)
        if bad and fractions:
            worst = max(bad, key=lambda k: fractions.get(k, 0))
            return (f"saturated units {fractions.get(worst, 0):.0%} in layer "
                    f"{order.index(worst) + 1 if worst in order else worst}")
        return "saturated units"
    if name == "learning_rate":
        if symptom == "units_died":
            return "ReLUs died while training: lr too high"
        if symptom == "divergence":
            return "diverged: lr too high"
        if symptom == "update_ratio_high":
            return "lr too high (updates too large)"
        if symptom == "update_ratio_low":
            return "lr too low (weights barely move)"
        if symptom == "oscillation":
            return "loss oscillates: lr too high?"
        return "learning rate problem"
    if name == "curvature":
        if symptom == "above_stability_limit":
            return "lr too high: above the stability limit 2/lambda_max"
        return "sharpness: " + str(check.get("status"))
    if name == "gradient_flow":
        text = str(check.get("message", ""))
        return {"accumulation": "gradients accumulate: zero_grad forgotten?",
                "frozen_after_trained": "a layer frozen by mistake?", "not_in_optimizer": "a layer left out of the optimizer",
                }.get(symptom, "exploding gradients" if "exploding" in text else "vanishing gradients")
    if name == "nan_inf":
        return "NaN/inf in the network"
    if name == "loss_decreasing":
        if symptom == "validation_not_below_baseline":
            return "validation no better than guessing (labels shuffled?)"
        if symptom == "not_below_baseline":
            return "loss not below guessing"
        return "loss rose early" if "rose" in str(check.get("message", "")) else "loss not decreasing early"
    if name == "data_order":
        return "data ordered by class: shuffle it"
    if name == "validation":
        return "validation run in training mode (dropout/BatchNorm on)"
    if name == "initial_loss":
        return "first loss off"
    if name == "overfit_tiny_batch":
        return "cannot overfit a tiny batch"
    if name == "input_normalization":
        return "inputs not normalized"
    if name == "init_scheme":
        return "init not matched to activation"
    return f"{name}: {check.get('status')}"


def _worst_checks(checks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The warnings and failures, one per (name, symptom), the most severe and then the latest kept."""
    rank = {"pass": 0, "warn": 1, "fail": 2}
    kept: dict[tuple[str, Any], dict[str, Any]] = {}
    for c in checks:
        if c.get("status") not in ("warn", "fail"):   # passes, and checks skipped for want of data
            continue
        key = (c.get("name"), (c.get("evidence") or {}).get("symptom"))
        if key not in kept or rank[c["status"]] >= rank[kept[key]["status"]]:
            kept[key] = {"name": c.get("name"), "status": c.get("status"), "epoch": c.get("epoch"),
                         "message": str(c.get("message", ""))[:_MESSAGE_LIMIT],
                         "evidence": {k: v for k, v in (c.get("evidence") or {}).items()
                                      if k in ("symptom", "dead_fraction", "saturated_fraction", "layers", "test")}}
    return sorted(kept.values(), key=lambda c: (-rank[c["status"]], c.get("epoch") or 0))


def trial_notes(record: Mapping[str, Any]) -> list[str]:
    """The short notes of a trial record: stop cause (diverged, pruned), curve verdict, then the checks."""
    notes: list[str] = []
    stop = str(record.get("stop_reason") or "")
    if "non-finite" in stop:
        notes.append("diverged: loss became NaN/inf - lr too high")
    if record.get("pruned_at") is not None:
        notes.append(f"pruned at epoch {record['pruned_at']}")
    verdict = verdict_note(record.get("verdict"), record.get("diagnosis_best_epoch"), int(record.get("epochs_run") or 0))
    if verdict and record.get("diagnosis_rule") == "2b":
        verdict = "underfit: erratic training loss (lr too high?)"
    if verdict:
        notes.append(verdict)
    for c in record.get("checks", []):
        note = check_note(c)
        if c.get("status") == "fail" and not note.startswith("diverged"):
            note += " (fail)"
        if note not in notes and not (note.startswith("diverged") and any(n.startswith("diverged") for n in notes)):
            notes.append(note)
    return notes


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def trial_record(history: Any, metric: str, pruned_at: int | None = None) -> dict[str, Any]:
    """A JSON-able summary of a trial's :class:`~gradwise.train.History`: curves, best (kept) epoch on ``metric``,
    the noise-proof score, stop reason, diagnosis and non-passing checks, plus the short ``notes`` and ``flags``."""
    from gradwise.diagnose import best_epoch as kept_epoch
    from gradwise.tune.scoring import flags, trial_score

    records = list(history.records)
    curves = {k: [_finite(r.get(k)) for r in records] for k in CURVE_KEYS if any(k in r for r in records)}
    mode = "max" if metric == "val_accuracy" else "min"
    best_epoch = kept_epoch(records, metric, mode)   # the weights kept: the diagnosis's definition
    best = next((r for r in records if r.get("epoch") == best_epoch), {}) if best_epoch is not None else {}
    score = trial_score(records, metric, mode)
    diagnosis = getattr(history, "diagnosis", None)
    record: dict[str, Any] = {
        "epochs_run": len(records),
        "stop_reason": history.stop_reason,
        "best_epoch": best_epoch,
        "best_val_loss": _finite(best.get("val_loss")),
        "best_val_accuracy": _finite(best.get("val_accuracy")),
        "score": _finite(score.value),
        "score_raw": _finite(score.raw),
        "noise": _finite(score.noise),
        "score_se": _finite(score.se),
        "smoothed": {"epoch": score.epochs, metric: score.smoothed} if score.smoothed else None,
        "curves": curves,
        "verdict": diagnosis.verdict if diagnosis is not None else None,
        "diagnosis_best_epoch": diagnosis.best_epoch if diagnosis is not None else None,
        "diagnosis_rule": getattr(diagnosis, "rule", None) if diagnosis is not None else None,
        "evidence": list(diagnosis.evidence) if diagnosis is not None else [],
        "advice": list(diagnosis.advice) if diagnosis is not None else [],
        "diagnosis_note": getattr(history, "diagnosis_note", None),
        "checks": _worst_checks([c.to_dict() if hasattr(c, "to_dict") else dict(c) for c in history.checks]),
        "pruned_at": pruned_at,
    }
    record["notes"] = trial_notes(record)
    record["flags"] = flags(record)
    return record
