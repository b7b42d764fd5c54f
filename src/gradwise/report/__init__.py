"""``gradwise.report``: a self-contained HTML page about a training run.

``render(run_dir)`` reads what ``fit(..., log_dir=run_dir)`` left - the history, the babysitter's
checks and per-layer statistics - and writes ``run_dir/report.html``: training vs validation loss
and accuracy with the diagnosis and the best epoch marked, per-layer activation histograms over time
(dead and saturated units visible), gradient norms by layer, update-to-weight ratios, the learning rate
and the checks table.  ``gradwise report RUN_DIR`` does the same from the command line.
"""
from gradwise.report.html import load_run, render

__all__ = ["render", "load_run"]
