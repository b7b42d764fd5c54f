"""Scores that noise cannot fool: a trial's value, its noise, which trial is crowned and how sure that is.

The lowest single value of a noisy validation curve is the winner's curse, not the best configuration: with a
few hundred validation examples the curve jitters from epoch to epoch, and over 30 trials the luckiest dip
wins.  So a trial is scored like this (:func:`trial_score`):

* **the kept epoch** - the epoch whose weights are kept: lowest raw validation loss (highest accuracy for
  ``val_accuracy``), :func:`gradwise.diagnose.best_epoch`, the same best epoch as the curve diagnosis and
  the weights saved with the trial;
* **the score** - the *smoothed* validation curve read at that epoch.  The smoother is the diagnosis's own
  (:func:`gradwise.diagnose.smoothing.cv_smooth`: a local-linear fit, after a 3-epoch running median,
  whose width the curve's own noise chooses by leave-one-out cross-validation), so a one-epoch dip counts
  for what the trend says about the weights there, not for its luck;
* **the noise** - the curve's epoch-to-epoch scatter around that trend (a robust standard deviation of the
  leave-one-out residuals), and the score's standard error ``noise * sqrt(hat)`` (``hat``: the smoother's
  own weight on that epoch).  Curves shorter than 4 epochs keep their raw value and no noise estimate.

* **the validation set's own noise** - a validation set of ``n`` examples measures the loss of the kept
  weights only to within ``sd(per-example loss) / sqrt(n)`` (:func:`validation_spread`, measured once per
  trial at the kept weights).  That is the noise that decides whether one configuration really beats another:
  different configurations fail on different examples, and a search of many trials on a few hundred
  validation examples fits the validation set itself.  The total standard error of a score combines both.

Which trial is crowned (:func:`choose_best`): the best score, except that a trial whose run is flagged -
diverged, loss oscillating or updates too large ("lr too high"), NaN/inf, exploding gradients, an erratic
training curve (:func:`flags`) - is crowned over the best unflagged trial only when it is better by more than
its own noise.  **Confirmed with other seeds** (``[tune] confirm_top``/``confirm_seeds``, by default the 3 best trials re-trained
with 2 more seeds each, :func:`gradwise.tune.search.confirm_top_trials`): one training seed is one draw of
initial weights, shuffling and dropout, and among many trials the one that drew luckily wins.  A confirmed
trial's standing is the mean score of its runs, and the crown goes to the best mean among the confirmed.
**Against the default** (``[tune] baseline``, :func:`versus_default`): the base configuration is trained with
the same seeds, and the best trial's gain over it is judged against the noise *and* against the winner's
curse of the search itself - the best of ``N`` noisy scores looks about ``sqrt(2 ln N)`` standard errors
better than it is, even when every configuration is equally good.  A gain below that is reported as such:
check it on more data before adopting it.
How sure the ranking is (:func:`ranking`): the gap between the crowned trial and the
runner-up against the standard error of that gap - ``clear`` (2 or more standard errors), ``likely`` (1 to 2)
or ``a toss-up`` (under 1).  Both trials are measured on the same examples, so their validation-set parts
are compared example by example (:func:`gap_se`; for validation sets up to :data:`PAIRED_MAX` examples, whose
per-example values are kept with each trial), else combined as if independent (erring towards "not sure").  Not in the figure: the
luck of the training seed (initial weights, shuffling, dropout), unless the trials were confirmed - then the
spread of each trial's runs over seeds is the noise (plus the paired validation-set part).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from gradwise.diagnose import best_epoch
from gradwise.diagnose.smoothing import cv_smooth, local_linear, running_median

__all__ = ["Score", "trial_score", "flags", "choose_best", "ranking", "Choice", "Ranking", "MIN_EPOCHS",
           "validation_spread", "total_se", "gap_se", "PAIRED_MAX", "choose_single", "runs", "seed_mean", "seed_se",
           "Comparison", "versus_default"]

#: Fewer finite validation values than this: the raw value at the kept epoch, no smoothing, no noise estimate.
MIN_EPOCHS = 4
#: Largest validation set whose per-example values are kept with a trial (for paired comparisons).
PAIRED_MAX = 2000
#: Ranking certainty in standard errors of the gap between the crowned trial and the runner-up.
CLEAR_Z, LIKELY_Z = 2.0, 1.0


@dataclass
class Score:
    """A trial's score: ``value`` (smoothed validation metric at the kept ``epoch``), ``raw`` (the logged
    value there), ``noise`` (epoch-to-epoch noise of the curve) and ``se`` (standard error of ``value``);
    ``smoothed`` is the whole smoothed curve (for the report), aligned with ``epochs``."""

    value: float | None
    raw: float | None
    epoch: Any
    noise: float | None = None
    se: float | None = None
    half_width: int | None = None
    epochs: list[Any] | None = None
    smoothed: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def _series(records: Sequence[Mapping[str, Any]], metric: str) -> tuple[list[Any], np.ndarray]:
    pairs = [(r.get("epoch", i + 1), r.get(metric)) for i, r in enumerate(records)]
    pairs = [(e, float(v)) for e, v in pairs if isinstance(v, (int, float)) and math.isfinite(float(v))]
    return [e for e, _ in pairs], np.asarray([v for _, v in pairs], dtype=float)


def trial_score(records: Sequence[Mapping[str, Any]] | Any, metric: str = "val_loss", mode: str = "min") -> Score:
    """Score a trial from its per-epoch records (or a ``History``): see the module docstring."""
    records = list(getattr(records, "records", records))
    epochs, v = _series(records, metric)
    kept = best_epoch(records, metric, mode)
    if kept is None or not len(v):
        return Score(None, None, None)
    k = epochs.index(kept)
    raw = float(v[k])
    if len(v) < MIN_EPOCHS:
        return Score(raw, raw, kept, epochs=list(epochs), smoothed=[float(x) for x in v])
    fit, half = cv_smooth(v)
    # leave-one-out residuals of the raw curve at the chosen width: the curve's scatter around its own trend
    loo_fit, loo_hat = local_linear(v, half)
    resid = (v - loo_fit) / np.maximum(1.0 - loo_hat, 1e-6)
    noise = float(1.4826 * np.median(np.abs(resid - np.median(resid))))
    if noise <= 0:   # a flat or perfectly regular curve: the RMS is the only scale left
        noise = float(np.sqrt(np.mean(resid ** 2)))
    _, hat = local_linear(running_median(v, 1), half)
    se = float(noise * math.sqrt(min(max(hat[k], 0.0), 1.0)))
    return Score(float(fit[k]), raw, kept, noise, se, int(half), list(epochs), [float(x) for x in fit])


# ----------------------------------------------------------------------------- the validation set's noise
def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def per_example(outputs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-example loss (cross-entropy for class logits and integer labels, binary cross-entropy for one logit
    and 0/1 targets, squared error otherwise) and per-example correctness (None for regression)."""
    outputs = np.asarray(outputs, dtype=float)
    targets = np.asarray(targets)
    if outputs.ndim == 2 and outputs.shape[1] > 1 and targets.ndim == 1 and targets.dtype.kind in "iu":
        logp = _log_softmax(outputs)
        idx = targets.astype(int)
        return -logp[np.arange(len(idx)), idx], (outputs.argmax(axis=1) == idx).astype(float)
    flat_o = outputs.reshape(len(outputs), -1)
    flat_t = targets.reshape(len(targets), -1).astype(float)
    if flat_o.shape[1] == 1 and flat_t.shape[1] == 1 and np.isin(flat_t, (0.0, 1.0)).all():
        z, t = flat_o[:, 0], flat_t[:, 0]
        loss = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
        return loss, ((z > 0) == (t > 0.5)).astype(float)
    return ((flat_o - flat_t) ** 2).mean(axis=1), None


def validation_spread(model: Any, val: Any, metric: str = "val_loss", engine: Any = None) -> dict[str, Any] | None:
    """The sampling noise of ``metric`` on the validation set ``val`` (``(x, y)``) for ``model`` as it is:
    ``{"n", "sd", "se", "values"}`` with ``se = sd(per-example value) / sqrt(n)`` and ``values`` the per-example
    values (4 significant digits; only up to :data:`PAIRED_MAX` examples) with which two trials are compared
    example by example; None when the outputs are not understood (then only the curve's noise is used)."""
    from gradwise.train.evaluate import evaluate

    losses: list[np.ndarray] = []
    correct: list[np.ndarray] = []

    def record(outputs: np.ndarray, targets: np.ndarray) -> float:
        loss, hit = per_example(outputs, targets)
        losses.append(loss)
        if hit is not None:
            correct.append(hit)
        return 0.0

    try:
        evaluate(model, val, None, {"per_example": record}, engine=engine, batch_size=512)
    except Exception:   # noqa: BLE001 - an output shape this reading does not know: no validation-set noise
        return None
    values = np.concatenate(correct if metric == "val_accuracy" else losses) if (correct if metric == "val_accuracy"
                                                                                 else losses) else None
    if values is None or len(values) < 2 or not np.isfinite(values).all():
        return None
    sd = float(values.std(ddof=1))
    kept = [float(f"{v:.4g}") for v in values] if len(values) <= PAIRED_MAX else None
    return {"n": int(len(values)), "sd": sd, "se": sd / math.sqrt(len(values)), "values": kept}


def total_se(curve_se: float | None, val_se: float | None) -> float | None:
    """A score's standard error from its two sources (independent): the curve's and the validation set's."""
    parts = [v for v in (curve_se, val_se) if v is not None and math.isfinite(v)]
    return math.sqrt(sum(v * v for v in parts)) if parts else None


# ----------------------------------------------------------------------------- flags
_LR_SYMPTOMS = {"divergence": "diverged", "oscillation": "loss oscillates (lr too high?)",
                "update_ratio_high": "updates too large (lr too high)"}


def flags(record: Mapping[str, Any]) -> list[str]:
    """Why a trial's run is not to be trusted as a winner: diverged, lr too high (oscillating loss, updates too
    large, a step above the curvature's stability limit 2/lambda_max), NaN/inf, exploding gradients, an erratic
    training curve; ``[]`` for a sound run.

    ``record`` is a trial record (:func:`gradwise.tune.diagnosis.trial_record`) or a trial's user attributes."""
    out: list[str] = []
    if "non-finite" in str(record.get("stop_reason") or ""):
        out.append("diverged")
    for c in record.get("checks") or []:
        if c.get("status") not in ("warn", "fail"):
            continue
        name, symptom = c.get("name"), (c.get("evidence") or {}).get("symptom")
        if name == "learning_rate" and symptom in _LR_SYMPTOMS:
            out.append(_LR_SYMPTOMS[symptom])
        elif name == "curvature" and symptom == "above_stability_limit":
            out.append("lr above the stability limit 2/lambda_max")
        elif name == "nan_inf":
            out.append("NaN/inf")
        elif name == "gradient_flow" and "exploding" in str(c.get("message", "")):
            out.append("exploding gradients")
    if record.get("diagnosis_rule") == "2b":
        out.append("erratic training curve")
    return list(dict.fromkeys(out))


# ----------------------------------------------------------------------------- choosing and ranking
@dataclass
class Choice:
    """The crowned trial, the flagged trial passed over for it (with why), if any, and the single-run pick
    (before the confirmation runs) when it differs."""

    best: Any
    passed_over: Any = None
    reason: str | None = None
    single: Any = None


@dataclass
class Ranking:
    """How sure it is that ``best`` beats ``runner_up``: ``gap`` in the metric, ``se`` of the gap, ``z`` = gap/se,
    and the word for it (``clear``, ``likely``, ``a toss-up``; ``unknown`` without noise estimates)."""

    best: int
    runner_up: int | None
    gap: float | None
    se: float | None
    z: float | None
    verdict: str
    seeds: int = 1

    def sentence(self, metric: str) -> str:
        if self.runner_up is None:
            return "only one trial completed: no ranking to judge"
        if self.z is None:
            return (f"trial {self.best} beats trial {self.runner_up} by {self.gap:.4g} {metric}; its noise is unknown "
                    "(curves too short to estimate it)")
        over = f" (means over {self.seeds} seeds each)" if self.seeds > 1 else ""
        return (f"trial {self.best} beats the runner-up, trial {self.runner_up}, by {self.gap:.4g} {metric}{over} = "
                f"{self.z:.1f} x the noise of that difference ({self.se:.2g}): {self.verdict}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _se(row: Any) -> float | None:
    """A row's standard error of its value (``score_se`` of a TrialRow, ``se`` of a Score)."""
    return getattr(row, "score_se", getattr(row, "se", None))


def paired_val_se(a: Any, b: Any) -> float | None:
    """The validation-set part of the standard error of a difference, example by example (None unless both
    trials kept their per-example values on the same examples)."""
    va, vb = getattr(a, "val_examples", None), getattr(b, "val_examples", None)
    if not (va and vb and len(va) == len(vb) and len(va) > 1):
        return None
    diff = np.asarray(va, dtype=float) - np.asarray(vb, dtype=float)
    return float(diff.std(ddof=1) / math.sqrt(len(diff)))


def gap_se(a: Any, b: Any) -> float | None:
    """Standard error of the difference between two trials' scores.

    When both kept their per-example validation values (same examples), the validation part is paired - the
    spread of the example-by-example differences, which is far smaller than the two spreads apart, since
    both configurations find the same examples hard - and the curves' parts are added; otherwise the two
    total standard errors are combined as if independent (erring towards "not sure")."""
    paired = paired_val_se(a, b)
    if paired is not None:
        curves = [getattr(r, "curve_se", None) for r in (a, b)]
        return math.sqrt(paired ** 2 + sum(c * c for c in curves if c is not None))
    sa, sb = _se(a), _se(b)
    if sa is None or sb is None:
        return None
    return math.hypot(sa, sb)


def _better(a: float, b: float, direction: str) -> float:
    """How much ``a`` beats ``b`` (positive: better) under ``direction``."""
    return b - a if direction == "minimize" else a - b


def runs(row: Any) -> list[float]:
    """A trial's scores: its own run and its confirmation runs with other seeds (non-finite: diverged)."""
    return [row.value, *(getattr(row, "confirmed", None) or [])]


def seed_mean(row: Any, direction: str = "minimize") -> float:
    """Mean score over a trial's runs; a diverged run makes it the worst possible."""
    values = runs(row)
    if not all(v is not None and math.isfinite(v) for v in values):
        return math.inf if direction == "minimize" else -math.inf
    return float(np.mean(values))


def seed_se(row: Any) -> float | None:
    """Standard error of :func:`seed_mean` from the spread of the runs (None with one run or a diverged one)."""
    values = runs(row)
    if len(values) < 2 or not all(v is not None and math.isfinite(v) for v in values):
        return None
    return float(np.std(values, ddof=1) / math.sqrt(len(values)))


def choose_best(rows: Sequence[Any], direction: str = "minimize") -> Choice | None:
    """The trial to crown: with confirmed trials (re-trained with other seeds), the best mean over its runs;
    otherwise :func:`choose_single` (the best single-run score, flagged runs only when better beyond their
    noise).  ``Choice.single`` is the single-run pick, ``Choice.reason`` says why another was crowned."""
    single = choose_single(rows, direction)
    confirmed = [r for r in rows if r.state == "complete" and getattr(r, "confirmed", None)]
    if single is None or not confirmed:
        return single
    sign = 1 if direction == "minimize" else -1
    best = min(confirmed, key=lambda r: (sign * seed_mean(r, direction), r.number))
    choice = Choice(best, passed_over=single.passed_over, reason=single.reason, single=single.best)
    if best is not single.best:
        m = len(runs(best))
        choice.reason = (f"confirmed with other seeds: trial {best.number}'s mean over {m} runs "
                         f"{seed_mean(best, direction):.4g} beats trial {single.best.number}'s "
                         f"{seed_mean(single.best, direction):.4g}")
    return choice


def choose_single(rows: Sequence[Any], direction: str = "minimize") -> Choice | None:
    """The trial to crown among ``rows`` (objects with ``number``, ``state``, ``value``, ``noise``, ``flags`` and
    ``score_se`` - :class:`gradwise.tune.results.TrialRow`).

    The best value wins, unless it is flagged (:func:`flags`) and beats the best unflagged trial by no more
    than its own noise - then the unflagged one is crowned and the flagged one named as passed over."""
    complete = [r for r in rows if r.state == "complete" and r.value is not None and math.isfinite(r.value)]
    if not complete:
        return None
    sign = 1 if direction == "minimize" else -1
    ordered = sorted(complete, key=lambda r: (sign * r.value, r.number))
    leader = ordered[0]
    trusted = [r for r in ordered if not r.flags]
    if not leader.flags or not trusted:
        return Choice(leader)
    sound = trusted[0]
    gap = _better(leader.value, sound.value, direction)
    noise = leader.noise if leader.noise is not None else math.inf
    if gap > noise:
        return Choice(leader, reason=f"crowned although flagged ({', '.join(leader.flags)}): better than trial "
                                      f"{sound.number} by {gap:.3g}, more than its noise {noise:.2g}")
    why = f"{noise:.2g}" if math.isfinite(noise) else "unknown (too few epochs)"
    return Choice(sound, passed_over=leader,
                  reason=f"trial {leader.number} scored better by {gap:.3g} but is flagged ({', '.join(leader.flags)}) "
                         f"and that is within its noise ({why}): not crowned")


def ranking(rows: Sequence[Any], choice: Choice | None, direction: str = "minimize") -> Ranking | None:
    """How sure the crowned trial beats the runner-up: the best other complete trial (a passed-over trial
    excluded - it is reported with its reason)."""
    if choice is None:
        return None
    best = choice.best
    others = [r for r in rows if r.state == "complete" and r.value is not None and math.isfinite(r.value)
              and r.number != best.number and (choice.passed_over is None or r.number != choice.passed_over.number)]
    if not others:
        return Ranking(best.number, None, None, None, None, "unknown")
    sign = 1 if direction == "minimize" else -1
    if getattr(best, "confirmed", None) and any(getattr(r, "confirmed", None) for r in others):
        # confirmed trials: compare the means over seeds; the noise is the spread over seeds plus the paired
        # validation-set part (the same validation examples for every run)
        pool = [r for r in others if getattr(r, "confirmed", None)]
        second = min(pool, key=lambda r: (sign * seed_mean(r, direction), r.number))
        gap = _better(seed_mean(best, direction), seed_mean(second, direction), direction)
        parts = [seed_se(best), seed_se(second)]
        if None in parts or not math.isfinite(gap):
            return Ranking(best.number, second.number, gap, None, None, "unknown")
        se = math.sqrt(sum(p * p for p in parts) + (paired_val_se(best, second) or 0.0) ** 2)
        z = gap / se if se > 0 else math.inf
        verdict = "clear" if z >= CLEAR_Z else "likely" if z >= LIKELY_Z else "a toss-up (within the noise)"
        return Ranking(best.number, second.number, gap, se, z, verdict, seeds=len(runs(best)))
    second = min(others, key=lambda r: (sign * r.value, r.number))
    gap = _better(best.value, second.value, direction)
    se = gap_se(best, second)
    if se is None:
        return Ranking(best.number, second.number, gap, None, None, "unknown")
    z = gap / se if se > 0 else math.inf
    verdict = "clear" if z >= CLEAR_Z else "likely" if z >= LIKELY_Z else "a toss-up (within the noise)"
    return Ranking(best.number, second.number, gap, se, z, verdict)


@dataclass
class Comparison:
    """The best trial against the base (default) configuration, both trained with the same seeds: ``gain``
    (positive: the best is better), ``se`` of the gain, ``z`` = gain/se, ``allowance`` = sqrt(2 ln N) (what
    the best of N noisy trials gains by luck, in standard errors) and the verdict."""

    best: int
    default_value: float
    best_value: float
    gain: float
    se: float | None
    z: float | None
    allowance: float
    verdict: str
    seeds: int = 1

    def sentence(self, metric: str) -> str:
        over = f" (means over {self.seeds} seeds)" if self.seeds > 1 else ""
        head = (f"the default configuration scores {self.default_value:.4g} {metric}{over}, trial {self.best} "
                f"{self.best_value:.4g}: gain {self.gain:+.4g}")
        if self.z is None:
            return f"{head}; its noise is unknown"
        return f"{head} = {self.z:.1f} x its noise ({self.se:.2g}): {self.verdict}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def versus_default(best: Any, default: Any, n_trials: int, direction: str = "minimize") -> Comparison | None:
    """Judge the crowned trial against the base configuration's runs (``default``: a row with ``value``,
    ``confirmed`` and ``val_examples``) - see the module docstring."""
    if best is None or default is None or default.value is None:
        return None
    b, d = seed_mean(best, direction), seed_mean(default, direction)
    gain = _better(b, d, direction)
    allowance = math.sqrt(2 * math.log(max(n_trials, 2)))
    parts = [seed_se(best), seed_se(default)]
    if None not in parts:
        se: float | None = math.sqrt(sum(p * p for p in parts) + (paired_val_se(best, default) or 0.0) ** 2)
    else:
        se = gap_se(best, default)
    seeds = min(len(runs(best)), len(runs(default)))
    if not math.isfinite(gain) or se is None:
        return Comparison(best.number, d, b, gain, None, None, allowance, "unknown", seeds)
    z = gain / se if se > 0 else math.inf
    if z >= max(CLEAR_Z, allowance):
        verdict = "clearly better than the default"
    elif z >= LIKELY_Z:
        verdict = (f"better than the default, but by less than the best of {n_trials} noisy trials gains by luck "
                   f"(about {allowance:.1f} x the noise): check it on more data before adopting it")
    else:
        verdict = ("not better than the default beyond the noise: keep the default, or tune on more validation "
                   "data")
    return Comparison(best.number, d, b, gain, se, z, allowance, verdict, seeds)
