"""The search's ``report.html``: summary, best trial, pictures and the results table with each trial's diagnosis.

One self-contained page (inline style, PNGs as ``data:`` URIs), in the style of a single run's report
(:mod:`gradwise.report`, whose style sheet and status colours it reuses).  Each trial row links to
``trials/trial-NNNN/`` when the trial kept its run directory, where ``gradwise report`` renders the
trial's own report (curves, activations, gradients, checks).
"""
from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from gradwise.report.html import CSS, STATUS_COLOURS
from gradwise.tune.results import TrialRow, format_value

__all__ = ["build_report", "write_report"]

_STATE_COLOURS = {"complete": STATUS_COLOURS["pass"], "pruned": ("#f1f3f4", "#5f6368"), "fail": STATUS_COLOURS["fail"],
                  "running": ("#e8f0fe", "#1a73e8")}
_EXTRA_CSS = """
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.params { font-family: ui-monospace, Menlo, monospace; font-size: 12px; }
tr.best td { font-weight: 600; }
.note { display: inline-block; margin: 1px 4px 1px 0; padding: 1px 7px; border-radius: 10px; font-size: 12px;
        background: #f1f3f4; }
.note.bad { background: #fce8e6; color: #c5221f; }
.note.warn { background: #fef7e0; color: #b06000; }
.note.good { background: #e6f4ea; color: #137333; }
"""


def _e(text: Any) -> str:
    return html.escape(str(text))


def _note_class(note: str) -> str:
    low = note.lower()
    if any(w in low for w in ("diverged", "fail", "dead", "error", "nan", "exploding")):
        return "bad"
    if low.startswith("good fit"):
        return "good"
    if any(w in low for w in ("overfit", "underfit", "too", "saturated", "vanishing", "oscillat", "not ", "cannot",
                              "gap", "noisy", "rose")):
        return "warn"
    return ""


def _rows_html(rows: Sequence[TrialRow], best: int | None, metric: str, run_dir: Path) -> str:
    head = (f"<tr><th>#</th><th>state</th><th>{_e(metric)}</th><th>val acc</th><th>val loss</th><th>epochs</th>"
            "<th>parameters</th><th>diagnosis (curves and babysitter)</th></tr>")
    body = []
    for r in rows:
        bg, fg = _STATE_COLOURS.get(r.state, ("white", "black"))
        value = r.value
        if value is None and r.state == "pruned" and r.intermediate:
            value = r.intermediate[max(r.intermediate)]
        number = str(r.number)
        if r.log_dir and Path(r.log_dir).is_dir():
            try:
                rel = Path(r.log_dir).resolve().relative_to(run_dir.resolve())
                number = f'<a href="{_e(rel.as_posix())}/">{r.number}</a>'
            except ValueError:
                pass
        epochs = "-" if r.epochs_run is None else f"{r.epochs_run}" + (f" (best {r.best_epoch})" if r.best_epoch else "")
        params = "<br>".join(f"{_e(k)} = {_e(format_value(v))}" for k, v in r.params.items())
        notes = [f"error: {r.error}"] if r.error else r.notes
        cells = "".join(f'<span class="note {_note_class(n)}">{_e(n)}</span>' for n in notes) or "-"
        titles = "&#10;".join(_e(f"[{c.get('status')}] {c.get('name')}: {c.get('message')}") for c in r.checks)
        body.append(f'<tr class="{"best" if r.number == best else ""}" style="background:{bg}">'
                    f"<td>{number}{' &#9733;' if r.number == best else ''}</td>"
                    f'<td class="status" style="color:{fg}">{_e(r.state)}</td>'
                    f'<td class="num">{_e(format_value(value))}</td><td class="num">{_e(format_value(r.val_accuracy))}</td>'
                    f'<td class="num">{_e(format_value(r.val_loss))}</td><td class="num">{_e(epochs)}</td>'
                    f'<td class="params">{params}</td><td title="{titles}">{cells}</td></tr>')
    return f"<table><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"


def build_report(*, title: str, run_dir: Path, summary: Mapping[str, Any], rows: Sequence[TrialRow],
                 best: TrialRow | None, metric: str, pictures: Sequence[Any], space_lines: Sequence[str],
                 importance: Mapping[str, float] | None, test: Mapping[str, Any] | None, ranking: Any = None,
                 choice_note: str | None = None, versus_default: Any = None) -> str:
    """The whole HTML page: the best trial's card (its score with the noise, how sure the ranking is, its
    validation curve), the pictures, every trial and the space."""
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in summary.items() if v not in (None, ""))
    parts = [f"<h1>{_e(title)}</h1>",
             f'<p class="sub">{_e(run_dir.resolve())} &middot; rendered {datetime.now():%Y-%m-%d %H:%M}</p>',
             f'<div class="card"><dl class="summary">{items}</dl></div>']
    parts.append("<h2>Best trial (chosen on validation data)</h2>")
    if best is None:
        parts.append('<p class="missing">No trial completed yet.</p>')
    else:
        params = "".join(f"<li><code>{_e(k)}</code> = {_e(format_value(v))}</li>" for k, v in best.params.items())
        notes = "".join(f'<span class="note {_note_class(n)}">{_e(n)}</span>' for n in best.notes)
        test_html = ""
        if test:
            shown = ", ".join(f"{k} {format_value(v)}" for k, v in test.items() if k.startswith("test_"))
            test_html = f"<p><b>Test set (touched once, after the search):</b> {_e(shown)}</p>"
        parts_noise = [f"the curve's epoch-to-epoch noise {_e(format_value(best.noise))}" if best.noise is not None
                       else None,
                       f"the validation set's sampling noise &plusmn;{_e(format_value(best.val_se))} over {_e(best.val_n)} "
                       "examples" if best.val_se is not None else None]
        noise = (f" &plusmn; {_e(format_value(best.score_se))} (standard error from "
                 f"{' and '.join(p for p in parts_noise if p)})" if best.score_se is not None else "")
        raw = f", raw {_e(format_value(best.raw_value))}" if best.raw_value is not None else ""
        sure = f"<p><b>How sure:</b> {_e(ranking.sentence(metric))}.</p>" if ranking is not None else ""
        if versus_default is not None:
            sure += f"<p><b>Against the default:</b> {_e(versus_default.sentence(metric))}.</p>"
        passed = f"<p><b>Why this trial:</b> {_e(choice_note)}.</p>" if choice_note else ""
        if best.confirmed:
            from gradwise.tune.scoring import runs

            shown = ", ".join(format_value(v) for v in runs(best))
            passed += (f"<p><b>Re-trained with other seeds</b> ({_e(', '.join(map(str, best.confirmed_seeds)))}): "
                       f"{_e(metric)} {_e(shown)} over its runs.</p>")
        curve = next((p for p in pictures if p.name == "best_trial_curve"), None)
        curve_html = (f'<div class="figure"><img alt="{_e(curve.title)}" src="{curve.data_uri}" style="max-width:100%">'
                      "</div>") if curve is not None else ""
        parts.append(f'<div class="card"><p><span class="verdict">trial {best.number}</span>{_e(metric)} '
                     f"{_e(format_value(best.value))}{noise} - the smoothed validation curve at the kept epoch "
                     f"{_e(best.best_epoch)} of {_e(best.epochs_run)}{raw}; validation accuracy "
                     f"{_e(format_value(best.val_accuracy))}</p>{sure}{passed}<ul>{params}</ul><p>{notes}</p>"
                     f"{test_html}{curve_html}</div>")
    parts.append("<h2>Pictures</h2>")
    for pic in pictures:
        if pic.name == "best_trial_curve":
            continue
        parts.append(f"<h3>{_e(pic.title)}</h3>"
                     f'<div class="figure"><img alt="{_e(pic.title)}" src="{pic.data_uri}" '
                     f'style="max-width:100%"></div>')
    if importance:
        listed = ", ".join(f"{k} {v:.2f}" for k, v in sorted(importance.items(), key=lambda kv: -kv[1]))
        parts.append(f'<p class="sub">Importance: {_e(listed)}</p>')
    parts.append("<h2>All trials</h2>")
    parts.append('<p class="sub">Best first; pruned trials show their last reported value. Hover a diagnosis for the '
                 "babysitter's full messages; a trial number links to its run directory (render it with "
                 "<code>gradwise report</code>).</p>")
    parts.append(_rows_html(rows, best.number if best else None, metric, run_dir))
    parts.append("<h2>Search space</h2><ul>" + "".join(f"<li><code>{_e(s)}</code></li>" for s in space_lines) + "</ul>")
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{CSS}{_EXTRA_CSS}</style></head>\n<body><main>\n{body}\n</main></body></html>\n")


def write_report(path: str | Path, **kwargs: Any) -> Path:
    """Write :func:`build_report`'s page to ``path``."""
    path = Path(path)
    path.write_text(build_report(**kwargs), encoding="utf-8")
    return path

