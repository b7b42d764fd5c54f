"""``report.html``: one self-contained page about a training run, built from the files it left behind.

It reads, from the run directory (``fit(..., log_dir=RUN)`` or ``gradwise train``):

* ``history.csv`` / ``history.jsonl`` (or any history :func:`gradwise.diagnose.read_history` reads:
  Keras, Lightning, TensorBoard) - the learning curves, diagnosed with :func:`gradwise.diagnose.curves`;
* ``checks.json`` (else ``checks.jsonl``, else the checks in ``run.json``) - the babysitter's checks;
* ``babysit.json`` - per-layer activation histograms, dead/saturated fractions, gradient norms,
  update-to-weight ratios and the learning rate at sampled steps, and the sharpness (largest Hessian
  eigenvalue) of the training loss at a few steps;
* ``run.json`` and ``steps.jsonl`` when present - how the run ended, the per-step learning rate.

Every picture is a PNG embedded as a ``data:`` URI and the style sheet is inline, so the file can be
mailed or archived alone.  A section whose file is missing says which file and how to get it.
"""
from __future__ import annotations

import csv
import html
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gradwise.report import plots

__all__ = ["RunFiles", "load_run", "build_page", "render"]

STATUS_COLOURS = {"pass": ("#e6f4ea", "#137333"), "warn": ("#fef7e0", "#b06000"), "fail": ("#fce8e6", "#c5221f"),
                  "skip": ("#f1f3f4", "#5f6368")}
CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0; background: #f6f7f9;
       color: #202124; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 34px 0 10px; padding-bottom: 4px; border-bottom: 2px solid #dadce0; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.sub { color: #5f6368; margin: 0 0 14px; }
.card { background: white; border: 1px solid #dadce0; border-radius: 8px; padding: 14px 18px; margin: 10px 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 14px; }
.grid img, .wide img { width: 100%; height: auto; display: block; }
.grid h3 { margin-top: 4px; }
.figure { background: white; border: 1px solid #dadce0; border-radius: 8px; padding: 8px; }
.missing { color: #5f6368; font-style: italic; background: #fff; border: 1px dashed #bdc1c6; border-radius: 8px;
           padding: 12px 16px; }
.verdict { display: inline-block; font-weight: 600; padding: 3px 10px; border-radius: 12px; background: #e8f0fe;
           color: #1a73e8; margin-right: 8px; }
table { border-collapse: collapse; width: 100%; background: white; font-size: 14px; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid #e8eaed; vertical-align: top; }
th { background: #f1f3f4; font-weight: 600; }
td.status { font-weight: 700; text-transform: uppercase; font-size: 12px; white-space: nowrap; }
td.when { white-space: nowrap; color: #5f6368; }
.counts span { margin-right: 14px; font-weight: 600; }
ul { margin: 6px 0 6px 20px; padding: 0; }
li { margin: 3px 0; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dl.summary dt { color: #5f6368; }
dl.summary dd { margin: 0; }
"""


@dataclass
class RunFiles:
    """What a run directory holds, read and parsed (None where a file is missing; ``notes`` say why)."""

    run_dir: Path
    history: Any = None                 # gradwise.diagnose.LossHistory
    history_source: str | None = None
    epoch_lr: list[float | None] | None = None
    diagnosis: Any = None               # gradwise.diagnose.Diagnosis
    checks: list[dict[str, Any]] | None = None
    stats: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    step_lr: tuple[list[float], list[float]] | None = None
    notes: dict[str, str] = field(default_factory=dict)


def load_run(run_dir: str | Path) -> RunFiles:
    """Read every file :func:`render` can use from ``run_dir``."""
    from gradwise.diagnose import curves, read_history
    from gradwise.diagnose.history_io import recorded_regularization

    d = Path(run_dir)
    if not d.is_dir():
        raise ValueError(f"{d}: no such run directory")
    run = RunFiles(run_dir=d)
    source = next((d / n for n in ("history.csv", "history.jsonl") if (d / n).is_file()), d)
    try:
        run.history = read_history(source)
        run.history_source = str(source)
        run.epoch_lr = _column(source, "lr") if source != d else None
    except (ValueError, FileNotFoundError) as err:
        run.notes["history"] = f"no learning curves: {err}"
    run.stats = _json(d / "babysit.json")
    if run.history is not None:
        try:
            run.diagnosis = curves(run.history, regularized=recorded_regularization(d))
        except (ValueError, TypeError) as err:
            run.notes["diagnosis"] = str(err)
    run.summary = _json(d / "run.json")
    run.checks = _json(d / "checks.json")
    if run.checks is None and (d / "checks.jsonl").is_file():
        run.checks = [json.loads(line) for line in (d / "checks.jsonl").read_text().splitlines() if line.strip()]
    if run.checks is None and run.summary and run.summary.get("checks") is not None:
        run.checks = run.summary["checks"]
    run.step_lr = _step_lr(d / "steps.jsonl")
    if run.history is None and run.checks is None and run.stats is None:
        raise ValueError(f"{d}: nothing to report - no history (history.csv/.jsonl), checks.json or babysit.json; "
                         "train with fit(..., log_dir=RUN_DIR)")
    return run


def _json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg})") from None


def _column(path: Path, name: str) -> list[float | None] | None:
    """One column of a gradwise history file (``lr`` is not part of the loss history the diagnosis reads)."""
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    else:
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
    values = [_number(r.get(name)) for r in rows]
    return values if any(v is not None for v in values) else None


def _number(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _step_lr(path: Path) -> tuple[list[float], list[float]] | None:
    if not path.is_file():
        return None
    steps, lrs = [], []
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            if _number(row.get("lr")) is not None and _number(row.get("step")) is not None:
                steps.append(float(row["step"]))
                lrs.append(float(row["lr"]))
    return (steps, lrs) if steps else None


# ============================================================================= the page
def _e(text: Any) -> str:
    return html.escape(str(text))


def _img(uri: str, alt: str) -> str:
    return f'<div class="figure"><img alt="{_e(alt)}" src="{uri}"></div>'


def _missing(text: str) -> str:
    return f'<p class="missing">{_e(text)}</p>'


def build_page(run: RunFiles) -> str:
    """The whole HTML document for a loaded run."""
    title = f"Training report - {run.run_dir.resolve().name}"
    parts = [f"<h1>{_e(title)}</h1>",
             f'<p class="sub">{_e(run.run_dir.resolve())} &middot; rendered {datetime.now():%Y-%m-%d %H:%M}</p>',
             _summary_section(run), _diagnosis_section(run), _curves_section(run), _checks_section(run),
             _activations_section(run), _training_dynamics(run)]
    body = "\n".join(p for p in parts if p)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{CSS}</style></head>\n<body><main>\n{body}\n</main></body></html>\n")


def _summary_section(run: RunFiles) -> str:
    s = run.summary
    if not s:
        return ""
    final = s.get("final") or {}
    shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in final.items()
                      if k not in ("epoch", "seconds") and v is not None)
    rows = [("stopped", s.get("stop_reason")), ("epochs", f"{s.get('epochs_run')} of {s.get('max_epochs')}"),
            ("final epoch", shown), ("model / optimizer / loss", f"{s.get('model')} / {s.get('optimizer')} / "
                                                                  f"{s.get('loss')}"),
            ("time", f"{s['seconds']:.1f} s" if isinstance(s.get("seconds"), (int, float)) else None)]
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows if v)
    return f'<div class="card"><dl class="summary">{items}</dl></div>'


def _best_epoch(run: RunFiles) -> float | None:
    if run.diagnosis is not None and run.diagnosis.best_epoch is not None:
        return run.diagnosis.best_epoch
    h = run.history
    if h is None or "val_loss" not in h:
        return None
    i = min(range(len(h["val_loss"])), key=lambda k: h["val_loss"][k])
    return h["epoch"][i]


def _diagnosis_section(run: RunFiles) -> str:
    head = "<h2>Diagnosis of the learning curves</h2>"
    d = run.diagnosis
    if d is None:
        why = run.notes.get("diagnosis") or run.notes.get("history") or "no history"
        return head + _missing(f"No diagnosis: {why}")
    best = f"best epoch {d.best_epoch}" if d.best_epoch is not None else "no validation data: no best epoch"
    confidence = getattr(d, "confidence", None)
    if confidence is not None:
        best += f" · confidence {confidence:.2f}"
    alternative = getattr(d, "alternative", None)
    if alternative:
        best += f" (next most likely: {alternative})"
    stop = getattr(d, "stop_epoch", None)
    if stop is not None and stop != d.best_epoch:
        best += f" · smoothed validation trend lowest around epoch {stop}"
    evidence = "".join(f"<li>{_e(x)}</li>" for x in d.evidence)
    advice = "".join(f"<li>{_e(x)}</li>" for x in d.advice)
    return (head + f'<div class="card"><p><span class="verdict">{_e(d.verdict)}</span>{_e(best)}</p>'
            f"<h3>Evidence</h3><ul>{evidence}</ul><h3>Advice</h3><ul>{advice}</ul></div>")


def _curves_section(run: RunFiles) -> str:
    head = "<h2>Training vs validation</h2>"
    h = run.history
    if h is None:
        return head + _missing(run.notes.get("history", "No history file (history.csv or history.jsonl)."))
    best = _best_epoch(run)
    verdict = run.diagnosis.verdict if run.diagnosis is not None else None
    figures = [_img(plots.learning_curves(h["epoch"], h["loss"], h.get("val_loss"), "loss", best, verdict),
                    "training and validation loss")]
    if "accuracy" in h or "val_accuracy" in h:
        accuracy = plots.learning_curves(h["epoch"], h.get("accuracy", [None] * len(h["epoch"])),
                                         h.get("val_accuracy"), "accuracy", best)
        figures.append(_img(accuracy, "training and validation accuracy"))
    else:
        figures.append(_missing("No accuracy in this history (a regression loss, or accuracy was not logged)."))
    note = "" if "val_loss" in h else _missing("No validation data in this run: only the training curve is shown.")
    return head + f'<div class="grid">{"".join(figures)}</div>{note}'


def _checks_section(run: RunFiles) -> str:
    head = "<h2>Babysitter checks</h2>"
    if run.checks is None:
        return head + _missing("No checks.json: train with fit(..., babysit=True, log_dir=RUN_DIR) to get the checks.")
    if not run.checks:
        return head + _missing("The run recorded no check.")
    counts = {s: sum(c.get("status") == s for c in run.checks) for s in STATUS_COLOURS}
    summary = "".join(f'<span style="color:{STATUS_COLOURS[s][1]}">{n} {s}</span>' for s, n in counts.items())
    rows = []
    for c in run.checks:
        status = str(c.get("status", ""))
        bg, fg = STATUS_COLOURS.get(status, ("white", "black"))
        epoch, step = c.get("epoch"), c.get("step")
        when = "before training" if not epoch else f"epoch {epoch}" + (f", step {step}" if step else "")
        rows.append(f'<tr style="background:{bg}"><td class="status" style="color:{fg}">{_e(status)}</td>'
                    f"<td><code>{_e(c.get('name', ''))}</code></td><td class=\"when\">{_e(when)}</td>"
                    f"<td>{_e(c.get('message', ''))}</td></tr>")
    return (head + f'<p class="counts">{summary}</p><table><thead><tr><th>status</th><th>check</th><th>when</th>'
            f'<th>finding</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _no_stats(what: str) -> str:
    return _missing(f"No {what}: babysit.json is missing - train with fit(..., babysit=True, log_dir=RUN_DIR).")


def _activations_section(run: RunFiles) -> str:
    head = ("<h2>Activations per layer over time</h2><p class=\"sub\">Histogram of each watched layer's outputs at "
            "sampled steps (brighter = more outputs). A dead ReLU layer is a bright line at 0; saturated "
            "sigmoid/tanh units are bright lines at the limits.</p>")
    if run.stats is None:
        return head + _no_stats("activation statistics")
    acts = run.stats.get("activations", {})
    layers = {k: v for k, v in acts.get("layers", {}).items() if v.get("edges") and v.get("histograms")}
    if not layers:
        return head + _missing("No activation layer was sampled in this run.")
    figures = "".join(_img(plots.activation_heatmap(name, entry, acts["steps"]), f"activations of layer {name}")
                      for name, entry in layers.items())
    return head + f'<div class="wide">{figures}</div>'


def _training_dynamics(run: RunFiles) -> str:
    """Gradient norms, update ratios, the learning rate and the sharpness, side by side."""
    cells = "".join(f"<div>{cell}</div>" for cell in (_gradients_section(run), _updates_section(run), _lr_section(run),
                                                      _sharpness_section(run)) if cell)
    return f'<h2>Gradients, updates, learning rate and sharpness</h2><div class="grid">{cells}</div>'


def _gradients_section(run: RunFiles) -> str:
    head = "<h3>Gradient norms by layer</h3>"
    if run.stats is None:
        return head + _no_stats("gradient norms")
    g = run.stats.get("gradients", {})
    if not g.get("norms"):
        return head + _missing("No gradient was sampled in this run.")
    return head + _img(plots.layer_series("weight-gradient norm per layer (forward order)", g["steps"],
                                          _labelled(g["norms"], run.stats), "||gradient||"), "gradient norms by layer")


def _labelled(series: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    """Series keyed by ``'name' (Linear)`` when babysit.json knows the layers' classes."""
    labels = stats.get("labels", {})
    return {(f"{name} ({labels[name]})" if labels.get(name) else name): values for name, values in series.items()}


def _updates_section(run: RunFiles) -> str:
    head = "<h3>Update-to-weight ratios (CS231n: about 1e-3, dashed)</h3>"
    if run.stats is None:
        return head + _no_stats("update ratios")
    u = run.stats.get("updates", {})
    if not u.get("ratios"):
        return head + _missing("No update was sampled in this run.")
    th = run.stats.get("thresholds", {})
    band = (th["update_ratio_low"], th["update_ratio_high"]) if "update_ratio_low" in th else None
    ratios = _labelled(u["ratios"], run.stats)
    return head + _img(plots.layer_series("update-to-weight ratio per layer", u["steps"], ratios,
                                          "||update|| / ||weight||", guide=th.get("update_ratio_target", 1e-3),
                                          guide_label="CS231n: about 1e-3", band=band), "update-to-weight ratios")


def _lr_section(run: RunFiles) -> str:
    head = "<h3>Learning rate</h3>"
    if run.step_lr is not None:
        return head + _img(plots.learning_rate(run.step_lr[0], run.step_lr[1], "training step"), "learning rate")
    u = (run.stats or {}).get("updates", {})
    if u.get("lr"):
        return head + _img(plots.learning_rate(u["steps"], u["lr"], "training step (sampled)"), "learning rate")
    if run.epoch_lr is not None and run.history is not None:
        return head + _img(plots.learning_rate(run.history["epoch"], run.epoch_lr, "epoch"), "learning rate")
    return head + _missing("No learning rate logged (no lr column in the history, no steps.jsonl or babysit.json).")


def _sharpness_section(run: RunFiles) -> str:
    head = "<h3>Sharpness over training (largest Hessian eigenvalue)</h3>"
    if run.stats is None:
        return ""   # the cells beside it already say that babysit.json is missing
    c = run.stats.get("curvature") or {}
    if not c.get("steps"):
        return head + _missing("No sharpness estimate in this run (an older babysit.json, a loop without data or "
                               "loss, a model without second derivatives, or a run too short for the time budget).")
    edge = None
    if c.get("solver") == "SGD" and c.get("lr_max"):
        edge = [v * m / lr if v and m and lr else None for v, m, lr in zip(c["sharpness"], c["lr_max"], c["lr"])]
    return head + _img(plots.sharpness(c["steps"], c["sharpness"], edge, c.get("solver")), "sharpness over training")


def render(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.html`` for the run in ``run_dir`` (or to ``out``) and return its path.

    Raises ``ValueError`` when the directory holds nothing to report.
    """
    run = load_run(run_dir)
    path = Path(out) if out is not None else run.run_dir / "report.html"
    path.write_text(build_page(run), encoding="utf-8")
    return path
