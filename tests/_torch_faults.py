"""The babysitter's seeded faults rebuilt with ``torch.nn``/``torch.optim``: one table for every driver.

``tests/test_babysit_faults.py`` seeds each fault into a gradwise MLP; here the same faults go into a
PyTorch MLP 64-64-10 on the embedded digits, so that ``fit``, :func:`gradwise.train.watch` and the
Lightning callback can all be held to the same bar: each fault flagged by the right check
(:func:`assert_flagged`), a healthy run (He before ReLU, Xavier on the logits) by none.  Beyond the
seven of the original bar: softmax before ``CrossEntropyLoss``, unscaled N(0, 1) weights, a layer
frozen by mistake, labels shuffled against the inputs and vanishing gradients in a deep sigmoid net
(``bench/babysit_precision.py`` measures them all, in many variants).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from gradwise.data.datasets import load_digits

__all__ = ["Fault", "FAULTS", "HEALTHY", "digits", "mlp", "make_optimizer", "flagged", "assert_flagged"]


def digits(kind: str = "standard", n_train: int = 1400) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``((x_train, y_train), (x_val, y_val))`` of the embedded digits: ``"standard"`` pixels scaled to [0, 1]
    (normalized as the babysitter wants), ``"raw"`` the 0..16 pixel values (not normalized), ``"shuffled"``
    the standard pixels with the training labels shuffled against them (validation labels intact)."""
    x, y = load_digits(flatten=True, normalize=kind != "raw")
    x = x.astype(np.float32)
    train_y = np.random.default_rng(0).permutation(y[:n_train]) if kind == "shuffled" else y[:n_train]
    return (x[:n_train], train_y), (x[n_train:], y[n_train:])


def mlp(act: type = torch.nn.ReLU, seed: int = 0, hidden: int = 64) -> torch.nn.Sequential:
    """A healthy MLP 64-hidden-10: He before ReLU, Xavier before sigmoid/tanh and on the logits, zero biases."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, hidden), act(), torch.nn.Linear(hidden, 10))
    if act is torch.nn.ReLU:
        torch.nn.init.kaiming_normal_(model[0].weight, nonlinearity="relu")
    else:
        torch.nn.init.xavier_normal_(model[0].weight)
    torch.nn.init.xavier_normal_(model[2].weight)
    for layer in (model[0], model[2]):
        torch.nn.init.zeros_(layer.bias)
    return model


def make_optimizer(spec: tuple[str, dict[str, Any]], model: torch.nn.Module) -> torch.optim.Optimizer:
    """A torch optimizer from ``("sgd", {"lr": 0.1})`` (the spec ``fit`` also accepts)."""
    name, kwargs = spec
    return {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[name](model.parameters(), **kwargs)


def flagged(checks: Any) -> dict[str, str]:
    """check name -> worst status among the checks that did not pass (``skip`` included)."""
    out: dict[str, str] = {}
    for c in checks:
        if c.status != "pass" and out.get(c.name) != "fail":
            out[c.name] = c.status
    return out


@dataclass
class Fault:
    """One seeded fault: how to build the model, which data and solver, and what must be found."""

    name: str
    build: Callable[[], torch.nn.Module]
    check: Callable[..., None]             # asserts on the run's checks (layer names after a prefix)
    data: str = "standard"
    optimizer: tuple[str, dict[str, Any]] = ("adam", {"lr": 1e-3})
    epochs: int = 2
    thresholds: dict[str, Any] = field(default_factory=dict)


def _one(checks: list, name: str) -> Any:
    found = [c for c in checks if c.name == name and c.status != "pass"]
    assert found, f"{name} did not flag the fault: {[(c.name, c.status, c.message) for c in checks]}"
    return max(found, key=lambda c: {"skip": 0, "warn": 1, "fail": 2}[c.status])


def _unnormalized(checks: list) -> None:
    assert _one(checks, "input_normalization").status == "warn"


def _lr_high(checks: list) -> None:
    found = flagged(checks)
    assert found.get("learning_rate") == "fail" or found.get("nan_inf") == "fail", found


def _lr_low(checks: list) -> None:
    found = flagged(checks)
    assert found.get("learning_rate") == "warn" or found.get("loss_decreasing") == "warn", found
    if "learning_rate" in found:
        assert _one(checks, "learning_rate").evidence["symptom"] == "update_ratio_low"


def _dead(checks: list, prefix: str = "") -> None:
    dead = _one(checks, "dead_relu")
    assert dead.status == "fail" and dead.evidence["layers"] == [f"{prefix}1"], dead   # the ReLU after the biased Linear
    assert f"'{prefix}1' (ReLU after Linear '{prefix}0')" in dead.message


def _saturated(checks: list, prefix: str = "") -> None:
    saturation = _one(checks, "saturation")
    assert saturation.status == "warn" and saturation.evidence["layers"] == [f"{prefix}1"], saturation


def _zero(checks: list) -> None:
    init = _one(checks, "init_scheme")
    assert init.status == "fail" and "identical" in init.message, init


def _hot(checks: list) -> None:
    first = _one(checks, "initial_loss")
    assert first.status == "warn" and first.evidence["ratio"] > 2, first


def _dead_model() -> torch.nn.Module:
    model = mlp()
    torch.nn.init.constant_(model[0].bias, -10.0)
    return model


def _saturated_model() -> torch.nn.Module:
    model = mlp(torch.nn.Sigmoid)
    for layer in (model[0], model[2]):
        torch.nn.init.normal_(layer.weight, 0.0, 10.0)
    return model


def _zero_model() -> torch.nn.Module:
    model = mlp()
    for layer in (model[0], model[2]):
        torch.nn.init.zeros_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
    return model


def _symptom(checks: list, name: str, symptom: str) -> None:
    found = _one(checks, name)
    assert found.status in ("warn", "fail") and found.evidence.get("symptom") == symptom, found


def _softmax(checks: list) -> None:
    _symptom(checks, "initial_loss", "softmax_before_loss")


def _exploding_init(checks: list) -> None:
    _symptom(checks, "init_scheme", "exploding_signal")


def _frozen(checks: list) -> None:
    _symptom(checks, "gradient_flow", "frozen_after_trained")


def _not_learning(checks: list) -> None:
    _symptom(checks, "loss_decreasing", "not_below_baseline")


def _vanishing(checks: list) -> None:
    flow = _one(checks, "gradient_flow")
    assert flow.status == "warn" and "vanishing" in flow.message, flow


def _softmax_model() -> torch.nn.Module:
    return torch.nn.Sequential(*mlp(), torch.nn.Softmax(dim=1))   # CrossEntropyLoss applies its own softmax


def _normal_model() -> torch.nn.Module:
    model = mlp(hidden=128)
    for layer in (model[0], model[2]):
        torch.nn.init.normal_(layer.weight, 0.0, 1.0)   # unscaled N(0, 1): the signal grows ~8x per layer
    return model


def _frozen_model() -> torch.nn.Module:
    model = mlp()
    model[2].requires_grad_(False)   # the (fresh) output layer frozen by mistake: only the hidden layer learns
    return model


def _deep_sigmoid_model() -> torch.nn.Module:
    torch.manual_seed(0)
    layers, width = [], 64
    for _ in range(8):   # Xavier keeps the signal, but each sigmoid passes at most 1/4 of the gradient back
        layers += [torch.nn.Linear(width, 32), torch.nn.Sigmoid()]
        width = 32
    layers.append(torch.nn.Linear(32, 10))
    for layer in layers[::2]:
        torch.nn.init.xavier_normal_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
    return torch.nn.Sequential(*layers)


def _hot_model() -> torch.nn.Module:
    model = mlp()
    with torch.no_grad():
        model[2].weight.mul_(30.0)   # logits 30x too large: over-confident before any training
    return model


#: The seeded faults, by name.
FAULTS: dict[str, Fault] = {f.name: f for f in [
    Fault("unnormalized_inputs", mlp, _unnormalized, data="raw"),
    Fault("learning_rate_far_too_high", mlp, _lr_high, optimizer=("sgd", {"lr": 10.0})),
    Fault("learning_rate_far_too_low", mlp, _lr_low, optimizer=("sgd", {"lr": 1e-7})),
    Fault("dead_relus_from_a_large_negative_bias", _dead_model, _dead),
    Fault("saturated_sigmoids", _saturated_model, _saturated),
    Fault("zero_init", _zero_model, _zero),
    Fault("hot_logits", _hot_model, _hot),
    Fault("softmax_before_loss", _softmax_model, _softmax),
    Fault("unscaled_normal_init", _normal_model, _exploding_init),
    Fault("layer_frozen_by_mistake", _frozen_model, _frozen),
    Fault("labels_shuffled", mlp, _not_learning, data="shuffled"),
    Fault("deep_sigmoid_vanishing", _deep_sigmoid_model, _vanishing, optimizer=("sgd", {"lr": 0.1})),
]}


def _healthy(checks: list) -> None:
    assert flagged(checks) == {}, [(c.name, c.status, c.message) for c in checks if c.status != "pass"]


#: The healthy run: He before ReLU, Xavier on the logits, normalized inputs, Adam 1e-3.
HEALTHY = Fault("healthy", mlp, _healthy, epochs=3)


def assert_flagged(fault: Fault, checks: list, prefix: str = "") -> None:
    """The fault's own assertion on the checks of a run (the healthy run: nothing flagged).

    ``prefix``: where the MLP sits in the trained module (``"net."`` for a LightningModule's ``self.net``).
    """
    if fault.check in (_dead, _saturated):
        fault.check(list(checks), prefix)
    else:
        fault.check(list(checks))
