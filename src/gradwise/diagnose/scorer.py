"""Confidence for a reading: a small multinomial logistic model over scale-free features, shipped as JSON.

``scorer.json`` (beside this file, readable) holds the feature list with its clipping and transforms, the
standardisation, one coefficient row per verdict, a temperature and a calibration of the final confidence,
plus how it was fitted (bench/diagnose_corpus/select_method.py: recorded runs of several generating families,
the policy chosen by leave-one-family-out cross-validation).  At run time it is a dot product and a softmax:
no dependency beyond NumPy.  Where the file also holds ``trees`` (round 9: small gradient-boosted trees over the
same inputs, depth <= 3, exported from scikit-learn at fitting time), their probabilities are averaged with the
linear model's - each tree is a handful of threshold comparisons, read in :func:`boosted_scores`.

:func:`decide` combines it with the rule cascade under the file's ``policy``:

* ``"rules"``    - the cascade's verdict; the model only gives its confidence and runner-up;
* ``"override"`` - the cascade's verdict unless the model puts at least ``override_margin`` more
  probability on another verdict (the evidence then says what the rules read);
* ``"model"``    - the model's most probable verdict.

``confidence`` is the calibrated probability that the final verdict is right; ``alternative`` is the most
probable other verdict when its probability is at least ``alternative_min`` (two readings are close).
"""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from gradwise.diagnose.features import Features
from gradwise.diagnose.thresholds import VERDICTS

MODEL_PATH = Path(__file__).with_name("scorer.json")


@functools.lru_cache(maxsize=4)
def load(path: str | None = None) -> dict[str, Any] | None:
    """The scorer's parameters (None if the file is missing: confidences then come from the rules alone)."""
    p = Path(path) if path else MODEL_PATH
    if not p.exists():
        return None
    return json.loads(p.read_text())


def transform(value: float, spec: dict[str, Any]) -> float:
    """One input: NaN -> ``fill``; clipped to [lo, hi]; then ``slog`` = sign(x) log(1 + |x|) or
    ``log_eps`` = log(x + eps) (for noise levels spanning decades)."""
    x = float(value)
    if not math.isfinite(x):
        x = float(spec.get("fill", 0.0))
    x = min(max(x, spec.get("lo", -math.inf)), spec.get("hi", math.inf))
    if spec.get("slog"):
        x = math.copysign(math.log1p(abs(x)), x)
    if "log_eps" in spec:
        x = math.log(max(x, 0.0) + spec["log_eps"])
    return x


def derived(f: Features) -> dict[str, float]:
    """Features plus the few ratios the scorer uses (``noise_ratio``: validation over training noise,
    ``gap_relative_abs``: how far apart the curves end, either way)."""
    d = f.as_dict()
    d["noise_ratio"] = (f.val_noise / max(f.train_noise, 1e-12)) if f.has_validation else 0.0
    d["gap_relative_abs"] = abs(f.gap_relative) if f.has_validation else 0.0
    d["log_epochs"] = math.log(max(f.epochs, 1))
    return d


def vector(f: Features, rule_verdict: str, model: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The two models' inputs: the transformed features - standardised for the linear model, as they are for
    the trees - each followed by the rule's verdict one-hot; returns (linear model's input, trees' input)."""
    d = derived(f)
    raw = np.array([transform(d[s["name"]], s) for s in model["inputs"]])
    z = (raw - np.asarray(model["mean"])) / np.asarray(model["scale"])
    onehot = np.array([1.0 if rule_verdict == v else 0.0 for v in VERDICTS]) if model.get("rule_onehot") else np.zeros(0)
    return np.concatenate([z, onehot]), np.concatenate([raw, onehot])


def probabilities(f: Features, rule_verdict: str, model: dict[str, Any]) -> dict[str, float]:
    """Softmax of the linear scores at the file's temperature; where the file also holds ``trees``, the mean of
    the two models' probabilities, weighted by the trees' ``weight``."""
    x, raw = vector(f, rule_verdict, model)
    p = _softmax((np.asarray(model["coef"]) @ x + np.asarray(model["intercept"])) / float(model.get("temperature", 1.0)))
    trees = model.get("trees")
    if trees:
        w = float(trees["weight"])
        p = (1 - w) * p + w * _softmax(boosted_scores(raw, trees))
    return {v: float(p[i]) for i, v in enumerate(model["classes"])}


def _softmax(z: np.ndarray) -> np.ndarray:
    z = np.exp(z - z.max())
    return z / z.sum()


def boosted_scores(x: np.ndarray, trees: dict[str, Any]) -> np.ndarray:
    """Gradient-boosted trees' raw scores, one per verdict: the baseline plus, for every boosting round, each
    verdict's tree's leaf value for ``x`` (transformed, *not* standardised inputs, then the rule's one-hot).

    A tree is five parallel lists: ``feature`` and ``threshold`` of each split node (go ``left`` when
    x[feature] <= threshold), the ``left`` and ``right`` child indices (-1 at a leaf) and each leaf's ``value``."""
    z = np.array(trees["baseline"], dtype=float)
    for round_ in trees["rounds"]:
        for k, t in enumerate(round_):
            node = 0
            while t["left"][node] >= 0:
                node = t["left"][node] if x[t["feature"][node]] <= t["threshold"][node] else t["right"][node]
            z[k] += t["value"][node]
    return z


def calibrate(p: float, cal: dict[str, float]) -> float:
    """Platt scaling of the verdict's probability: sigmoid(a * logit(p) + b)."""
    p = min(max(p, 1e-6), 1 - 1e-6)
    z = cal.get("a", 1.0) * math.log(p / (1 - p)) + cal.get("b", 0.0)
    return 1 / (1 + math.exp(-z))


def absent(f: Features) -> set[str]:
    """Verdicts whose defining picture the curves do not show, whatever the other measurements weigh.

    Overfitting is a validation loss that turned up after its minimum (the lecture's picture, and what early
    stopping acts on): a smoothed validation trend that ends at or below its minimum is not read as overfit.
    Without this, a short noisy history whose training loss kept falling was read as overfit with 0.9
    confidence after 12 epochs (bench/diagnose_corpus, fresh/swissroll_reg_overf_3), and live stopping ended
    the run at epoch 13, ten epochs before its validation loss reached its lowest."""
    return {"overfit"} if f.has_validation and not f.val_rise > 0 else set()


def decide(f: Features, reading: Any, model: dict[str, Any] | None = None, policy: str | None = None,
           exclude: str | None = None) -> tuple[str, float, str | None, dict[str, float]]:
    """(verdict, confidence, alternative, probabilities) for the measured features and the cascade's reading;
    ``policy`` overrides the file's (``"rules"`` when the caller changed the thresholds: the scorer was fitted on
    the default cascade, so with other thresholds the rules decide and the scorer only gives the confidence);
    ``exclude`` is a verdict ruled out by what the caller knows about the run; the verdicts :func:`absent` from
    the curves are ruled out too (the others' probabilities are renormalised)."""
    model = model if model is not None else load()
    if model is None or not f.has_validation:
        # without a validation curve only underfitting is read (rules 2, 2b, 6t): the rule's cross-validated share
        # of right readings ("6t", the training half of rule 6, counts as rule 6)
        table = (model or {}).get("rule_confidence", {})
        return reading.verdict, float(table.get(reading.rule, table.get(reading.rule.rstrip("t"), 0.5))), None, {}
    probs = probabilities(f, reading.verdict, model)
    out = absent(f) - {reading.verdict}   # (the cascade itself never reads a picture that is absent)
    if exclude is not None:
        out.add(exclude)
    rest = 1 - sum(probs.get(v, 0.0) for v in out)
    if rest > 0:
        probs = {v: (0.0 if v in out else p / rest) for v, p in probs.items()}
    policy = policy or model.get("policy", "rules")
    verdict = reading.verdict
    top = max(probs, key=probs.get)
    if policy == "model" or (policy == "override" and probs[top] - probs[verdict] >= model.get("override_margin", 0.5)):
        verdict = top
    confidence = calibrate(probs[verdict], model.get("calibration", {}))
    others = sorted((v for v in probs if v != verdict), key=probs.get, reverse=True)
    alt = others[0] if others and probs[others[0]] >= model.get("alternative_min", 0.15) else None
    return verdict, confidence, alt, probs
