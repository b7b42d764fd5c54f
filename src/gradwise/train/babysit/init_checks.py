"""``init_scheme``: is every layer initialized for the activation that follows it?

The lecture: "Initialize each layer weights according to their activation functions" - Xavier
(Glorot & Bengio, 2010) before tanh and sigmoid, He (He et al., 2015: N(0, 2/n)) before ReLU, since
Xavier "was found to have problems" with ReLU - and "we cannot initialize all weights to zeros": units
whose incoming weights are all equal compute the same function, receive the same gradient and stay
identical forever (the symmetry is never broken).

The init is judged by its effect, as the lecture's pictures of activations through a deep network
do: on training samples before the first update (dropout off) the babysitter measures the scale
(RMS) of the signal entering every weighted layer, in forward order, and each layer's gradient.  A
hidden block (layer + activation) that multiplies the signal by more than ``init_block_gain_max``, or
a signal that grows beyond ``init_depth_gain_max`` or shrinks below ``init_depth_gain_min`` over the
depth, is reported - N(0, 1) weights explode it, a deep tanh net at std 0.01 collapses it - while a
scale the accepted schemes would not choose but that does no harm (PyTorch's default init on a
two-layer net, 2.4x below He) is only noted.  Batch normalization resets the scale and shows up as
the measured signal does.  Without training samples the gains are predicted from the weights'
standard deviation (what He and Xavier assume).  The standard deviation each scheme gives for the
activation found after the layer (the search :func:`gradwise.nn.init.by_activation` uses) is kept in
the evidence.
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

__all__ = ["LayerInit", "describe_layers", "recommended_std", "predicted_gain", "check_init_scheme"]

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


def predicted_gain(layer: LayerInit) -> float | None:
    """The factor by which a hidden block (``layer`` and its activation) scales the RMS of its input, predicted
    from the weights' standard deviation as He and Xavier reason: ``std * sqrt(fan_in)`` times what the
    activation keeps (sqrt(1/2) for ReLU, sqrt((1 + a^2)/2) for LeakyReLU, 1 for the others near 0).  None for a
    layer followed by normalization (its scale is reset) or an output layer."""
    if not layer.hidden or layer.normalized:
        return None
    fan_in, _ = nn_init._calculate_fan_in_and_fan_out(_Shape(layer.weight.shape))
    std = float(layer.weight.astype(np.float64).std())
    keep = 1.0
    if layer.activation in ("LeakyReLU", "PReLU"):
        a = 0.01 if layer.slope is None else layer.slope
        keep = math.sqrt((1 + a * a) / 2)
    elif layer.activation in nn_init._RELU_FAMILY and layer.activation != "Maxout":
        keep = math.sqrt(0.5)
    return std * math.sqrt(fan_in) * keep


def _signal_gains(layers: list[LayerInit], signal: dict[str, float] | None, output: dict[str, float] | None = None
                  ) -> tuple[list[tuple[str, float]], float | None, tuple[str, float] | None, str]:
    """``(block gains, depth gain, output gain, how)``: per hidden block the factor the signal's RMS changes
    by, from the measured RMS of each weighted layer's input (forward order) when ``signal`` has it, else
    predicted; the output layer's own factor (its output's RMS over its input's) when measured."""
    if signal:
        chain = [(layer.name, signal[layer.name]) for layer in layers if signal.get(layer.name) is not None]
        if len(chain) >= 2 and all(v > 0 for _, v in chain[:-1]):
            gains = [(name, nxt / cur) for (name, cur), (_, nxt) in zip(chain, chain[1:])]
            last, value = chain[-1]
            out = None
            if output and output.get(last) is not None and value > 0:
                out = (last, output[last] / value)
            return gains, chain[-1][1] / chain[0][1], out, "measured"
    gains = [(layer.name, g) for layer in layers if (g := predicted_gain(layer)) is not None]
    depth = float(np.prod([g for _, g in gains])) if gains else None
    return gains, depth, None, "predicted"


def check_init_scheme(layers: list[LayerInit], th: Thresholds, signal: dict[str, float] | None = None,
                      gradients: dict[str, float] | None = None, output: dict[str, float] | None = None) -> Check:
    """Fail on hidden layers whose units start identical; warn when the init explodes or collapses the signal.

    ``signal``: layer name -> RMS of the layer's input on training samples before the first update (forward
    order as ``layers``); ``output``: layer name -> RMS of its output (the last layer's makes the output
    layer's own gain); ``gradients``: layer name -> ||dL/dW|| / ||W|| at initialization (evidence).  A block
    gain (the output layer's included) above ``init_block_gain_max``, a growth over the whole depth above
    ``init_depth_gain_max`` or a shrinking below ``init_depth_gain_min`` (hidden blocks only: a small output
    layer is good) is a warning; a standard deviation far from He/Xavier that does neither is only
    noted in the evidence (``off_scheme``).
    """
    if not layers:
        return make(NAME, "pass", "no Linear/Conv2d/Maxout layer to check")
    rows, symmetric, off_scheme = [], [], []
    for layer in layers:
        fan_in, fan_out = nn_init._calculate_fan_in_and_fan_out(_Shape(layer.weight.shape))
        lo, hi, formula = recommended_std(layer.activation, layer.slope, fan_in, fan_out)
        std = float(layer.weight.astype(np.float64).std())
        row = {"layer": layer.name, "type": layer.kind, "shape": list(layer.weight.shape), "activation":
               layer.activation, "std": std, "recommended": formula, "normalized_after": layer.normalized}
        if signal and signal.get(layer.name) is not None:
            row["input_rms"] = signal[layer.name]
        if gradients and gradients.get(layer.name) is not None:
            row["relative_gradient"] = gradients[layer.name]
        if layer.hidden and layer.weight.shape[0] > 1 and _symmetric(layer, th.init_symmetry_rtol):
            row["problem"] = "symmetric"
            symmetric.append(f"{layer.name!r} ({layer.kind} before {layer.activation}): every unit has the same "
                             f"weights{' (all zero)' if not layer.weight.any() else ''}")
        elif not layer.normalized:
            if std > hi * th.init_std_tolerance:
                row["off_scheme"], row["ratio"] = "too_large", std / hi
                off_scheme.append(f"{layer.name!r} {std / hi:.2g}x above {formula}")
            elif lo > 0 and std < lo / th.init_std_tolerance:
                row["off_scheme"], row["ratio"] = "too_small", std / lo
                off_scheme.append(f"{layer.name!r} {std / lo:.2g}x {formula}")
        rows.append(row)
    common = dict(layers=rows, tolerance=th.init_std_tolerance,
                  limits={"block_gain_max": th.init_block_gain_max, "depth_gain": [th.init_depth_gain_min,
                                                                                    th.init_depth_gain_max]})
    if symmetric:
        return make(NAME, "fail", "units start identical and can never differ - the lecture's 'we cannot initialize "
                                  "all weights to zeros': " + "; ".join(symmetric)
                                  + ". Use nn.init.by_activation(model)", symptom="symmetric", **common)
    gains, depth, out, how = _signal_gains(layers, signal, output)
    common.update(block_gains={name: g for name, g in gains}, depth_gain=depth, signal=how,
                  output_gain=out[1] if out else None)
    by_name = {layer.name: layer for layer in layers}
    exploding = [(name, g) for name, g in gains if g > th.init_block_gain_max]
    if out is not None and out[1] > th.init_block_gain_max:
        exploding.append(out)
    total = depth * out[1] if depth is not None and out is not None else depth
    advice = ("use nn.init.by_activation(model) (He before ReLU, Xavier before tanh/sigmoid), or batch "
              "normalization")
    if exploding or (total is not None and total > th.init_depth_gain_max):
        parts = "; ".join(f"{name!r} ({by_name[name].kind} before {by_name[name].activation}) multiplies it by {g:.3g}"
                          for name, g in exploding) or "each block adds to it"
        return make(NAME, "warn", f"the init explodes the signal: its scale grows {total:.3g}x through the network "
                                  f"({how} on the training data before the first update) - {parts}; activations "
                                  f"saturate or blow up and the first updates are huge - {advice}",
                    symptom="exploding_signal", **common)
    if depth is not None and depth < th.init_depth_gain_min:
        worst = min(gains, key=lambda item: item[1])
        return make(NAME, "warn", f"the init makes the signal vanish: its scale shrinks to {depth:.3g} of the input's "
                                  f"through the network ({how}; block gains down to {worst[1]:.3g} at {worst[0]!r}) - "
                                  f"the deep layers see almost nothing and get almost no gradient - {advice}",
                    symptom="vanishing_signal", **common)
    span = (f"block gains {min(g for _, g in gains):.2g}..{max(g for _, g in gains):.2g}, {depth:.2g}x over the "
            f"depth" if gains else "no hidden block")
    note = f"; off the He/Xavier std but harmless here: {', '.join(off_scheme)}" if off_scheme else ""
    return make(NAME, "pass", f"{len(layers)} layer(s): the init keeps the signal in scale ({span}, {how}){note}",
                **common)


class _Shape:
    """Enough of a Tensor for ``nn.init._calculate_fan_in_and_fan_out`` (a weight's shape)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = tuple(shape)

    def dim(self) -> int:
        return len(self.shape)
