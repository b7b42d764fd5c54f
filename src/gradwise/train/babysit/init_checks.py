"""``init_scheme``: is every layer initialized for the activation that follows it?

The lecture: "Initialize each layer weights according to their activation functions" - Xavier
(Glorot & Bengio, 2010) before tanh and sigmoid, He (He et al., 2015: N(0, 2/n)) before ReLU, since
Xavier "was found to have problems" with ReLU - and "we cannot initialize all weights to zeros": units
whose incoming weights are all equal compute the same function, receive the same gradient and stay
identical forever (the symmetry is never broken).

The weights' standard deviation is measured and compared with the band of standard deviations the
accepted schemes give for the activation found after the layer (the same search that
:func:`gradwise.nn.init.by_activation` uses).  A layer followed by batch normalization has its scale
reset anyway and is only tested for symmetry.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradwise.nn import init as nn_init
from gradwise.train.babysit.check import Check, make
from gradwise.train.babysit.probes import as_array
from gradwise.train.babysit.thresholds import Thresholds

__all__ = ["LayerInit", "describe_layers", "recommended_std", "check_init_scheme"]

NAME = "init_scheme"
_OUTPUT = ("none", "Softmax", "LogSoftmax")


@dataclass
class LayerInit:
    """One weighted layer as the init check sees it."""

    name: str
    kind: str                  # the module's class, e.g. "Linear"
    weight: np.ndarray
    bias: np.ndarray | None
    activation: str            # "ReLU", "Tanh", ... or "none" (an output layer)
    slope: float | None        # LeakyReLU's negative slope
    normalized: bool           # a BatchNorm follows before the activation

    @property
    def hidden(self) -> bool:
        return self.activation not in _OUTPUT


def describe_layers(model: Any, example_inputs: tuple | None = None, engine: Any = None) -> list[LayerInit]:
    """The Linear, Conv2d and Maxout layers of ``model`` with the activation that follows each.

    With ``example_inputs`` (a single input) the activation is found in the recorded graph of one
    forward pass (functional activations included); otherwise from the registration order, which is
    right for ``Sequential`` models.  The caller protects the model's state around the probe.
    """
    if engine is None:
        from gradwise.engines import engine_for

        engine = engine_for(model)
    described = None
    if example_inputs is not None and len(example_inputs) == 1:
        try:
            described = engine.following_activations(model, example_inputs[0])
        except Exception:   # an unusual forward: fall back to the registration order
            described = None
    if described is None or all(activation in ("none", "Maxout") for _, _, activation, _ in described):
        described = engine.following_activations(model)
    normalized = _normalized_layers(model, [name for name, *_ in described])
    out = []
    for name, layer, activation, slope in described:
        bias = getattr(layer, "bias", None)
        out.append(LayerInit(name=name, kind=type(layer).__name__, weight=as_array(layer.weight, engine),
                             bias=None if bias is None else as_array(bias, engine), activation=activation, slope=slope,
                             normalized=name in normalized))
    return out


def _normalized_layers(model: Any, layer_names: list[str]) -> set[str]:
    """Layers followed (in registration order, before the next layer or activation) by a normalization module."""
    names = set(layer_names)
    result, current = set(), None
    for name, module in model.named_modules():
        kind = type(module).__name__
        if name in names:
            current = name
        elif current is not None and "Norm" in kind:
            result.add(current)
        elif kind in nn_init._RELU_FAMILY + nn_init._SATURATING:
            current = None
    return result


def recommended_std(activation: str, slope: float | None, fan_in: int, fan_out: int) -> tuple[float, float, str]:
    """``(low, high, formula)``: the weight standard deviations the accepted schemes give before ``activation``.

    * ReLU, ELU, Maxout: He, sqrt(2 / fan_in); LeakyReLU: sqrt(2 / ((1 + slope^2) fan_in)).
    * tanh: from the lecture's Xavier U[-1/sqrt(n), 1/sqrt(n)] (std 1/sqrt(3 fan_in)) to Glorot's normalized
      form with the tanh gain 5/3, (5/3) sqrt(2 / (fan_in + fan_out)); sigmoid: the same with gain 1.
    * no activation (an output layer): anything up to the larger of He and Glorot - a small last layer
      is good (Karpathy: "init well"), only a large one is a problem.
    """
    lecture_xavier = 1.0 / math.sqrt(3.0 * fan_in)
    glorot = math.sqrt(2.0 / (fan_in + fan_out))
    he = math.sqrt(2.0 / fan_in)
    if activation == "LeakyReLU":
        a = 0.01 if slope is None else slope
        std = math.sqrt(2.0 / ((1.0 + a * a) * fan_in))
        return std, std, f"He sqrt(2/((1+a^2) fan_in)) = {std:.3g}"
    if activation in nn_init._RELU_FAMILY:
        return he, he, f"He sqrt(2/fan_in) = {he:.3g}"
    if activation in nn_init._SATURATING:
        gain = 5.0 / 3.0 if activation == "Tanh" else 1.0
        lo, hi = sorted((lecture_xavier, gain * glorot))
        return lo, hi, f"Xavier {lo:.3g}..{hi:.3g}"
    return 0.0, max(he, glorot), f"at most {max(he, glorot):.3g} (output layer)"


def _symmetric(layer: LayerInit, rtol: float) -> bool:
    """All rows (units' incoming weights) equal, and all biases equal."""
    w = layer.weight.reshape(layer.weight.shape[0], -1).astype(np.float64)
    size = max(float(np.abs(w).max()), 1e-30)
    rows_equal = float(np.ptp(w, axis=0).max()) <= rtol * size
    if layer.bias is None or layer.bias.size == 0:
        return rows_equal
    b = layer.bias.astype(np.float64)
    return rows_equal and float(np.ptp(b)) <= rtol * max(float(np.abs(b).max()), size)


def check_init_scheme(layers: list[LayerInit], th: Thresholds) -> Check:
    """Fail on hidden layers whose units start identical; warn on a weight std more than
    ``init_std_tolerance`` times outside the band :func:`recommended_std` gives for the next activation."""
    if not layers:
        return make(NAME, "pass", "no Linear/Conv2d/Maxout layer to check")
    rows, symmetric, mismatched = [], [], []
    for layer in layers:
        fan_in, fan_out = nn_init._calculate_fan_in_and_fan_out(_Shape(layer.weight.shape))
        lo, hi, formula = recommended_std(layer.activation, layer.slope, fan_in, fan_out)
        std = float(layer.weight.astype(np.float64).std())
        row = {"layer": layer.name, "type": layer.kind, "shape": list(layer.weight.shape), "activation":
               layer.activation, "std": std, "recommended": formula, "normalized_after": layer.normalized}
        if layer.hidden and layer.weight.shape[0] > 1 and _symmetric(layer, th.init_symmetry_rtol):
            row["problem"] = "symmetric"
            symmetric.append(f"{layer.name!r} ({layer.kind} before {layer.activation}): every unit has the same "
                             f"weights{' (all zero)' if not layer.weight.any() else ''}")
        elif not layer.normalized:
            if std > hi * th.init_std_tolerance:
                row["problem"], row["ratio"] = "too_large", std / hi
                mismatched.append(f"{layer.name!r} ({layer.kind} before {layer.activation}): std {std:.3g} is "
                                  f"{std / hi:.3g}x {formula}")
            elif lo > 0 and std < lo / th.init_std_tolerance:
                row["problem"], row["ratio"] = "too_small", std / lo
                mismatched.append(f"{layer.name!r} ({layer.kind} before {layer.activation}): std {std:.3g} is "
                                  f"{std / lo:.3g}x {formula}")
        rows.append(row)
    if symmetric:
        return make(NAME, "fail", "units start identical and can never differ - the lecture's 'we cannot initialize "
                                  "all weights to zeros': " + "; ".join(symmetric)
                                  + ". Use nn.init.by_activation(model)",
                    layers=rows, tolerance=th.init_std_tolerance)
    if mismatched:
        return make(NAME, "warn", f"{len(mismatched)} layer(s) not initialized for their activation: "
                                  + "; ".join(mismatched) + " - use nn.init.by_activation(model) (He before ReLU, "
                                  "Xavier before tanh/sigmoid)", layers=rows, tolerance=th.init_std_tolerance)
    return make(NAME, "pass", f"{len(layers)} layer(s) initialized for their activations "
                              f"(within {th.init_std_tolerance:g}x of He/Xavier)", layers=rows,
                tolerance=th.init_std_tolerance)


class _Shape:
    """Enough of a Tensor for ``nn.init._calculate_fan_in_and_fan_out`` (a weight's shape)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = tuple(shape)

    def dim(self) -> int:
        return len(self.shape)
