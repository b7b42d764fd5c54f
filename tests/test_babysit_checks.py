"""Unit tests of the babysitter's checks: each check function on hand-made arrays and small modules."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import gradwise
import gradwise.nn as nn
import gradwise.nn.functional as F
from gradwise.train.babysit import (CHECK_NAMES, Check, Thresholds, check_dead_relu, check_divergence,
                                    check_gradient_flow, check_init_scheme, check_initial_loss,
                                    check_input_normalization, check_loss_decreasing, check_nan_inf,
                                    check_oscillation, check_overfit_tiny_batch, check_saturation,
                                    check_update_ratio, describe_layers)
from gradwise.train.babysit.gradient_checks import DivergenceTracker
from gradwise.train.babysit.loss_checks import expected_initial_loss, pick_tiny_batch
from gradwise.train.babysit.probes import activation_sample, histogram_edges, trace_forward
from gradwise.train.trainer import accuracy_for

TH = Thresholds()
RNG = np.random.default_rng(0)


# ----------------------------------------------------------------------------- Check and Thresholds
def test_every_threshold_documents_its_default_and_source():
    rows = Thresholds.describe()
    assert len(rows) == len(dataclasses.fields(Thresholds)) > 30
    for row in rows:
        assert row["why"] and row["source"], row["name"]
    sources = " ".join(r["source"] for r in rows)
    for cited in ("SageMaker", "AUTOTRAINER", "CS231n", "Karpathy", "TheDeepChecker", "Lecture"):
        assert cited in sources


def test_thresholds_can_be_changed_and_are_validated():
    assert Thresholds.coerce({"dead_layer_fraction": 0.3}).dead_layer_fraction == 0.3
    with pytest.raises(ValueError, match="unknown babysitter threshold"):
        Thresholds.coerce({"dead_fraction": 0.3})
    with pytest.raises(ValueError, match="positive"):
        Thresholds(sample_every=0)
    with pytest.raises(ValueError, match="below update_ratio_high"):
        Thresholds(update_ratio_low=2.0)


def test_check_is_readable_and_serialisable():
    c = check_initial_loss(float("nan"), (math.log(10), "ln(10)"), TH)
    assert isinstance(c, Check) and c.status == "fail"
    assert str(c).startswith("[fail] initial_loss")
    assert c.to_dict()["evidence"]["loss"] == "nan"   # JSON has no NaN
    assert len(CHECK_NAMES) == 13


# ----------------------------------------------------------------------------- input_normalization
def test_input_normalization():
    standardized = RNG.normal(size=(512, 20)).astype(np.float32)
    assert check_input_normalization(standardized, TH).status == "pass"
    pixels01 = RNG.uniform(0, 1, size=(512, 20)).astype(np.float32)
    assert check_input_normalization(pixels01, TH).status == "pass"       # min-max scaled is accepted
    raw = (pixels01 * 16).round()
    warn = check_input_normalization(raw, TH)
    assert warn.status == "warn" and "mean far from 0" in warn.message and warn.evidence["worst"]
    assert check_input_normalization(standardized * 1e-3, TH).status == "warn"   # tiny
    one_wild = standardized.copy()
    one_wild[:, 3] *= 100
    assert check_input_normalization(one_wild, TH).evidence["worst"][0]["feature"] == 3
    broken = standardized.copy()
    broken[0, 0] = np.nan
    assert check_input_normalization(broken, TH).status == "fail"
    assert check_input_normalization(np.arange(10).reshape(5, 2), TH).status == "pass"   # token ids


def test_input_normalization_is_per_channel_for_images():
    images = RNG.normal(size=(64, 3, 4, 4)).astype(np.float32)
    images[:, 1] += 50.0
    c = check_input_normalization(images, TH)
    assert c.status == "warn" and c.evidence["unit"] == "channel" and c.evidence["worst"][0]["channel"] == 1


# ----------------------------------------------------------------------------- init_scheme
def _mlp(act=nn.ReLU, init=True):
    gradwise.manual_seed(0)
    m = nn.Sequential(nn.Linear(64, 64), act(), nn.Linear(64, 10))
    if init:
        nn.init.by_activation(m)
    return m


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.ELU])
def test_init_scheme_passes_by_activation(act):
    assert check_init_scheme(describe_layers(_mlp(act)), TH).status == "pass"


def test_init_scheme_flags_zeros_as_symmetric():
    m = _mlp()
    for layer in (m[0], m[2]):
        nn.init.zeros_(layer.weight)
    c = check_init_scheme(describe_layers(m), TH)
    assert c.status == "fail" and "'0'" in c.message and "zeros" in c.message


def test_init_scheme_ignores_a_zero_output_layer():
    m = _mlp()
    nn.init.zeros_(m[2].weight)   # symmetry is broken by the distinct classes: a legitimate choice
    assert check_init_scheme(describe_layers(m), TH).status == "pass"


def test_init_scheme_judges_the_scale_by_its_effect_on_the_signal():
    m = _mlp(nn.Sigmoid)
    nn.init.normal_(m[0].weight, 0.0, 10.0)
    c = check_init_scheme(describe_layers(m), TH)   # no data: the gains are predicted from the weights
    assert c.status == "warn" and c.evidence["symptom"] == "exploding_signal" and c.evidence["signal"] == "predicted"
    assert c.evidence["layers"][0]["off_scheme"] == "too_large"
    default = _mlp(nn.ReLU, init=False)   # PyTorch's default U[-1/sqrt(n), 1/sqrt(n)]: 2.45x below He ...
    c = check_init_scheme(describe_layers(default), TH)
    assert c.status == "pass" and c.evidence["layers"][0]["off_scheme"] == "too_small"   # ... but harmless here
    assert "harmless" in c.message


def test_init_scheme_skips_scale_before_batchnorm_and_finds_functional_activations():
    gradwise.manual_seed(0)
    bn = nn.Sequential(nn.Linear(64, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 10))
    nn.init.normal_(bn[0].weight, 0.0, 5.0)
    assert check_init_scheme(describe_layers(bn), TH).status == "pass"

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(64, 32), nn.Linear(32, 10)

        def forward(self, x):
            return self.fc2(F.tanh(self.fc1(x)))

    m = Functional()
    layers = describe_layers(m, (gradwise.randn(8, 64),))
    assert [layer.activation for layer in layers] == ["Tanh", "none"]


# ----------------------------------------------------------------------------- initial_loss
def test_expected_initial_loss():
    assert expected_initial_loss("CrossEntropyLoss", "multiclass", np.arange(4), 10) == (math.log(10), "ln(10)")
    assert expected_initial_loss("BCEWithLogitsLoss", "binary_logits", np.ones(4), 2)[0] == math.log(2)
    value, formula = expected_initial_loss("MSELoss", None, np.array([1.0, 3.0]), None, np.zeros(2))
    assert value == 1.0 and formula.startswith("the label variance")
    assert expected_initial_loss("L1Loss", None, np.ones(3), None) is None


def test_initial_loss():
    expected = (math.log(10), "ln(10)")
    assert check_initial_loss(2.5, expected, TH).status == "pass"
    assert check_initial_loss(20.0, expected, TH).status == "warn"
    assert check_initial_loss(0.3, expected, TH).status == "warn"
    assert check_initial_loss(float("inf"), expected, TH).status == "fail"
    assert check_initial_loss(7.0, None, TH).status == "pass"


# ----------------------------------------------------------------------------- overfit_tiny_batch
def test_pick_tiny_batch_takes_every_class_first():
    labels = np.repeat(np.arange(10), 5)
    pick = pick_tiny_batch(labels, True, TH)
    assert len(pick) == 16 and set(labels[pick[:10]]) == set(range(10))
    assert np.bincount(labels[pick]).max() == 2
    assert list(pick_tiny_batch(np.zeros(30), False, TH)) == list(range(16))


def test_overfit_tiny_batch_works_on_copies():
    m = _mlp()
    opt = gradwise.optim.Adam(m.parameters(), lr=1e-2)
    x = RNG.normal(size=(16, 64)).astype(np.float32)
    y = np.arange(16) % 10
    before = m[0].weight._data.copy()
    c = check_overfit_tiny_batch(m, opt, nn.CrossEntropyLoss(), [x], y, TH, accuracy_for("multiclass"))
    assert c.status == "pass" and c.evidence["accuracy"] == 1.0
    assert np.array_equal(m[0].weight._data, before) and not opt.state   # the real model is untouched
    slow = gradwise.optim.SGD(m.parameters(), lr=1e-7)
    c = check_overfit_tiny_batch(m, slow, nn.CrossEntropyLoss(), [x], y, Thresholds(overfit_max_steps=20),
                                 accuracy_for("multiclass"))
    assert c.status == "warn" and "could not overfit" in c.message


def test_overfit_tiny_batch_regression():
    gradwise.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))
    x = RNG.normal(size=(16, 4)).astype(np.float32)
    y = (x.sum(axis=1, keepdims=True) + 3).astype(np.float32)
    c = check_overfit_tiny_batch(m, gradwise.optim.Adam(m.parameters(), lr=3e-2), nn.MSELoss(), [x], y, TH)
    assert c.status == "pass" and c.evidence["final_loss"] <= 0.1 * c.evidence["initial_loss"]


# ----------------------------------------------------------------------------- loss_decreasing
def test_loss_decreasing():
    steps = np.arange(60)
    assert check_loss_decreasing(list(2.3 * np.exp(-steps / 30) + RNG.normal(0, 0.05, 60)), TH).status == "pass"
    flat = check_loss_decreasing(list(2.3 + RNG.normal(0, 0.1, 60)), TH)
    assert flat.status == "warn" and "not decreasing" in flat.message
    rising = check_loss_decreasing(list(2.3 * np.exp(steps / 20)), TH)
    assert rising.status == "warn" and "rose" in rising.message


# ----------------------------------------------------------------------------- activations
def _sample(values, kind):
    return activation_sample(values, kind, histogram_edges(kind, values, 30), TH.dead_activity,
                             TH.saturation_margin)


def test_activation_sample_counts_dead_units_and_saturation():
    relu = np.maximum(RNG.normal(size=(32, 40)), 0).astype(np.float32)
    relu[:, :30] = 0
    s = _sample(relu, "relu")
    assert s.dead_fraction == 0.75 and sum(s.histogram) == relu.size and s.finite
    conv = np.maximum(RNG.normal(size=(4, 8, 5, 5)), 0)
    conv[:, 2] = 0
    assert _sample(conv, "relu").dead_fraction == 1 / 8                 # per channel
    sig = 1 / (1 + np.exp(-RNG.normal(0, 20, size=(32, 10))))
    assert _sample(sig, "sigmoid").saturated_fraction > 0.8
    tanh = np.tanh(RNG.normal(0, 0.5, size=(32, 10)))
    assert _sample(tanh, "tanh").saturated_fraction < 0.05
    assert not _sample(np.array([[1.0, np.inf]]), "relu").finite


def test_dead_relu_and_saturation_checks_name_the_layer():
    relu = np.maximum(RNG.normal(size=(32, 10)), 0)
    dead = np.zeros((32, 10))
    samples = {"1": _sample(relu, "relu"), "3": _sample(dead, "relu")}
    c = check_dead_relu(samples, TH, {"3": "ReLU after Linear '2'"})
    assert c.status == "fail" and "'3' (ReLU after Linear '2')" in c.message and c.evidence["layers"] == ["3"]
    half = relu.copy()
    half[:, :6] = 0
    assert check_dead_relu({"1": _sample(half, "relu")}, TH).status == "warn"
    assert check_dead_relu({"1": _sample(relu, "relu")}, TH).status == "pass"
    sat = {"s": _sample(np.full((8, 4), 0.999), "sigmoid")}
    c = check_saturation(sat, TH)
    assert c.status == "warn" and "'s'" in c.message
    assert check_saturation({"t": _sample(np.tanh(RNG.normal(size=(8, 4))), "tanh")}, TH).status == "pass"


def test_nan_inf_names_the_most_upstream_cause():
    assert check_nan_inf("step 3").status == "pass"
    assert "input data" in check_nan_inf("s", loss=math.nan, inputs_nonfinite=True, first_activation="2").message
    assert check_nan_inf("s", loss=math.nan, first_weight="0", first_activation="2").evidence["layer"] == "0"
    assert check_nan_inf("s", loss=math.nan, first_activation="2").evidence["layer"] == "2"
    assert check_nan_inf("s", loss=math.inf).evidence["layer"] == "loss"
    assert check_nan_inf("s", first_gradient="4").status == "fail"


def test_trace_forward_finds_the_first_nonfinite_layer_in_forward_order():
    class Reordered(nn.Module):   # registered b, a - but a runs first
        def __init__(self):
            super().__init__()
            self.b, self.a = nn.Linear(4, 4), nn.Linear(4, 4)

        def forward(self, x):
            return self.b(self.a(x))

    m = Reordered()
    nn.init.constant_(m.a.bias, math.inf)
    trace = trace_forward(m, (gradwise.randn(2, 4),))
    assert trace.order == ["a", "b"] and trace.first_nonfinite == "a"


# ----------------------------------------------------------------------------- gradients and learning rate
def test_gradient_flow():
    assert check_gradient_flow({"0": 1.0, "2": 1.2}, 1e-2, TH).status == "pass"
    vanishing = check_gradient_flow({"0": 1e-6, "2": 1.0}, 1e-3, TH)
    assert vanishing.status == "warn" and "vanishing" in vanishing.message
    assert "vanishing" in check_gradient_flow({"0": 0.0, "2": 0.0}, 0.0, TH).message
    assert "exploding" in check_gradient_flow({"0": 100.0, "2": 1.0}, 1.0, TH).message


def test_update_ratio():
    assert check_update_ratio({"0": 2e-3, "2": 1e-3}, TH, 1e-3, 1e-3).status == "pass"
    high = check_update_ratio({"0": 30.0, "2": 1e-3}, TH, 10.0, 10.0, {"0": "Linear"})
    assert high.status == "warn" and high.evidence["symptom"] == "update_ratio_high" and "'0' (Linear)" in high.message
    assert check_update_ratio({"0": 0.0, "2": 1e-8}, TH, 1e-7, 1e-7).evidence["symptom"] == "update_ratio_low"
    assert check_update_ratio({"0": 1e-7}, TH, 1e-6, 1e-3).status == "pass"   # a schedule decayed the rate


def test_divergence():
    tracker = DivergenceTracker(TH.divergence_window)
    for loss in (2.3, 2.2, 2.0, 1.5, 1.2):
        recent = tracker.update(loss)
    assert check_divergence(tracker.initial, tracker.best, recent, tracker.steps, TH, 1e-3).status == "pass"
    for loss in (50.0, 400.0):
        recent = tracker.update(loss)
    c = check_divergence(tracker.initial, tracker.best, recent, tracker.steps, TH, 10.0)
    assert c.status == "fail" and c.evidence["symptom"] == "divergence"


def test_oscillation():
    zigzag = [2.0, 1.0, 1.8, 0.9, 1.7, 1.0, 1.9, 0.8]
    c = check_oscillation(zigzag, TH, 0.5)
    assert c.status == "warn" and c.evidence["symptom"] == "oscillation"
    smooth = list(2.0 * np.exp(-np.arange(20) / 4) + 0.1 + RNG.normal(0, 0.003, 20))
    assert check_oscillation(smooth, TH, 1e-3).status == "pass"
    assert check_oscillation([1.0, 2.0], TH, 1e-3).status == "pass"   # too short to judge
