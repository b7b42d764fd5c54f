"""Initialization by activation: the lecture's advice applied to a whole model.

"Initialize each layer's weights according to their activation functions": :func:`by_activation`
finds the activation after every Linear, Conv2d and Maxout layer (:func:`following_activations`,
from the recorded graph of one forward pass or from the registration order) and draws He weights
before ReLU-like units, Xavier before tanh/sigmoid, and a small output layer (Xavier scaled by
:data:`OUTPUT_GAIN`) so that a fresh classifier starts near the loss ln(C) the babysitter's
``initial_loss`` check expects (Karpathy: "init well").  The babysitter's ``init_scheme`` check
judges a model by the same search.  Kept apart from :mod:`gradwise.nn.init` (PyTorch's init functions,
which need no layers) because this policy knows the layer classes.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

from gradwise.nn.init import (_calculate_fan_in_and_fan_out, calculate_gain, kaiming_normal_, xavier_uniform_,
                              zeros_)
from gradwise.tensor.tensor import Tensor

__all__ = ["InitChoice", "by_activation", "following_activations", "OUTPUT_GAIN"]

#: Gain of the output layer's Xavier init (a layer followed by no activation, or by softmax): logits start
#: about 0.14 wide, so the first loss is ln(C) within 1 % - not the 1.4-wide logits of gain 1, whose
#: over-confident random guesses cost up to 0.9 more (Karpathy: "init well", the "hockey stick" loss).
OUTPUT_GAIN = 0.1


@dataclass
class InitChoice:
    """What `by_activation` did to one layer, and why."""

    name: str            # the layer's dotted name in the model
    shape: tuple         # the weight's shape
    activation: str      # the activation found after the layer ("none" for an output layer)
    scheme: str          # e.g. "kaiming_normal_(fan_in, relu)" or "xavier_uniform_(gain=5/3)"
    std: float           # the standard deviation the weights were drawn with
    gain: float
    reason: str

    def __str__(self) -> str:
        return (f"{self.name:<16} {str(self.shape):<18} {self.activation:<22} {self.scheme:<40} "
                f"std={self.std:.4g}  ({self.reason})")


_RELU_FAMILY = ("ReLU", "LeakyReLU", "ELU", "Maxout", "GELU", "SiLU", "Softplus", "ReLU6", "PReLU")
_SATURATING = ("Tanh", "Sigmoid", "Hardtanh")
_OUTPUT = ("Softmax", "LogSoftmax")
_ACTIVATION_OPS = {"Relu": "ReLU", "LeakyRelu": "LeakyReLU", "Elu": "ELU", "Tanh": "Tanh", "Sigmoid": "Sigmoid",
                   "Softmax": "Softmax", "LogSoftmax": "LogSoftmax", "Gelu": "GELU", "Silu": "SiLU",
                   "Softplus": "Softplus", "Hardtanh": "Hardtanh", "Relu6": "ReLU6", "Prelu": "PReLU"}
_LEAKY = ("LeakyReLU", "PReLU")  # He with the negative slope in the gain


def by_activation(model, verbose: bool = False, example_input: Tensor | None = None) -> list[InitChoice]:
    """Initialise every Linear, Conv2d and Maxout layer for the activation that follows it.

    The lecture's advice ("initialize each layer's weights according to their activation
    functions"): He (`kaiming_normal_`, fan_in) before ReLU, LeakyReLU (its slope in the
    gain), ELU, and for Maxout layers (He et al., 2015); Xavier (`xavier_uniform_` with the
    tanh or sigmoid gain) before Tanh/Sigmoid (Glorot & Bengio, 2010); Xavier scaled down by
    `OUTPUT_GAIN` (0.1) for a layer followed by no activation (the output layer, or one followed
    by softmax), so that the first loss is ln(C) (Karpathy: "init well"). Biases are set to zero. Beyond the lecture (see `calculate_gain`): He with ReLU's gain before
    GELU, SiLU, Softplus and ReLU6 (ReLU-like); He with PReLU's starting slope as the leaky
    gain before PReLU; Xavier with gain 1 before Hardtanh (tanh-like, but linear near 0).

    The activation after a layer is found from `example_input` when given: one forward pass
    is run and the recorded graph is followed from the layer's output to the first activation
    op, so functional activations (`F.relu` inside `forward`) are seen too. Without it, the
    model's modules are read in registration order and the next activation module after each
    layer (before the next layer) is taken, which is right for `Sequential` models.

    Returns one `InitChoice` per layer (name, shape, activation, scheme, std, reason) and
    prints them when `verbose`.
    """
    if example_input is not None:
        missing = "no activation op follows this layer's output in the graph"
    else:
        missing = "no activation module registered after this layer"
        if not any(_activation_of(m) for m in model.modules()):
            missing += " (functional activations such as F.relu are seen only with example_input=)"
            warnings.warn(f"init.by_activation: {type(model).__name__} registers no activation modules, so every "
                          "layer is treated as linear; if its forward calls F.relu/torch.tanh, pass "
                          "example_input= (one batch) so the activations are found in the graph", stacklevel=2)
    choices = [_initialise(name, layer, activation, slope, missing)
               for name, layer, activation, slope in following_activations(model, example_input)]
    if verbose:
        header = f"{'layer':<16} {'weight shape':<18} {'activation':<22} {'initialization':<40} std  (why)"
        print("\n".join([header] + [str(c) for c in choices]))
    return choices


def following_activations(model, example_input: Tensor | None = None) -> list[tuple[str, Any, str, float | None]]:
    """``(name, layer, activation, slope)`` for every Linear, Conv2d and Maxout layer of ``model``.

    ``activation`` is the class name of the first activation after the layer (``"ReLU"``,
    ``"Tanh"``, ...; ``"Maxout"`` for a Maxout layer, ``"none"`` when nothing follows) and
    ``slope`` a LeakyReLU's negative slope. With ``example_input`` one forward pass is run and
    the recorded graph is followed from each layer's output, so functional activations count;
    without it the modules are read in registration order (right for ``Sequential``).
    This is what :func:`by_activation` initialises by and what the babysitter's
    ``init_scheme`` check judges by.
    """
    from gradwise.nn.conv import Conv2d
    from gradwise.nn.linear import Linear
    from gradwise.nn.maxout import Maxout

    layers = _layers(model, (Linear, Conv2d, Maxout))
    if example_input is not None:
        found = _activations_from_graph(model, layers, example_input)
    else:
        found = _activations_from_order(model, layers)
    return [(name, layer, *(("Maxout", None) if isinstance(layer, Maxout) else found.get(name, ("none", None))))
            for name, layer in layers]


def _layers(model, kinds) -> list:
    """Weighted layers in registration order; a Maxout's own affine map is part of it."""
    out, skip = [], []
    for name, module in model.named_modules():
        if any(name.startswith(prefix + ".") for prefix in skip):
            continue
        if isinstance(module, kinds):
            out.append((name, module))
            skip.append(name)
    return out


def _activation_of(module) -> tuple[str, float | None] | None:
    kind = type(module).__name__
    if kind == "PReLU":
        return kind, float(module.weight.detach().numpy().mean())
    if kind in _RELU_FAMILY + _SATURATING + _OUTPUT:
        return kind, getattr(module, "negative_slope", None)
    return None


def _activations_from_order(model, layers) -> dict:
    ids = {id(m) for _, m in layers}
    names = {id(m): n for n, m in layers}
    found, current = {}, None
    for _, module in model.named_modules():
        if id(module) in ids:
            current = names[id(module)]
            continue
        act = _activation_of(module)
        if act is not None and current is not None and current not in found:
            found[current] = act
    return found


def _activations_from_graph(model, layers, example_input) -> dict:
    """Run `model(example_input)`, then walk the graph downstream from each layer's output."""
    from gradwise.tensor.grad_mode import enable_grad

    outputs, handles = {}, []
    for name, layer in layers:
        handles.append(layer.register_forward_hook(
            lambda m, args, out, name=name: outputs.__setitem__(name, out.grad_fn)))
    modes = [(m, m.training) for m in model.modules()]
    model.eval()  # the probe must not move BatchNorm's running statistics or draw dropout masks
    probe = example_input.detach()
    if probe.is_floating_point():
        probe.requires_grad_()  # record the graph even if the model's parameters are frozen
    try:
        with enable_grad():
            result = model(probe)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    roots = [r.grad_fn for r in (result if isinstance(result, (tuple, list)) else [result])
             if isinstance(r, Tensor) and r.grad_fn is not None]
    consumers: dict = {}
    stack, seen = list(roots), set(roots)
    while stack:
        node = stack.pop()
        for edge in node.edges:
            if type(edge) is tuple:
                consumers.setdefault(edge[0], []).append(node)
                if edge[0] not in seen:
                    seen.add(edge[0])
                    stack.append(edge[0])
    layer_nodes = {node for node in outputs.values() if node is not None}
    found = {}
    for name, start in outputs.items():
        frontier, visited = list(consumers.get(start, [])), set()
        while frontier:  # breadth first: the nearest activation downstream
            node = frontier.pop(0)
            if node in visited or node in layer_nodes:
                continue
            visited.add(node)
            kind = _ACTIVATION_OPS.get(type(node).__name__)
            if kind is not None:
                found[name] = (kind, getattr(node, "slope", None))
                break
            frontier.extend(consumers.get(node, []))
    return found


def _initialise(name: str, layer, activation: str, slope: float | None, missing: str) -> InitChoice:
    weight = layer.weight
    fan_in, fan_out = _calculate_fan_in_and_fan_out(weight)
    if activation in _RELU_FAMILY:
        nonlinearity = "leaky_relu" if activation in _LEAKY else "relu"
        a = 0 if activation not in _LEAKY else slope if slope is not None else {"LeakyReLU": 0.01, "PReLU": 0.25}[
            activation]
        gain = calculate_gain(nonlinearity, a)
        kaiming_normal_(weight, a=a, mode="fan_in", nonlinearity=nonlinearity)
        scheme = f"kaiming_normal_(fan_in, {nonlinearity}" + (f", a={a:.4g})" if nonlinearity == "leaky_relu" else ")")
        std = gain / math.sqrt(fan_in)
        reason = {"ReLU": "He et al. 2015: ReLU halves the variance, so Var(W) = 2/fan_in",
                  "LeakyReLU": f"He et al. 2015 with the leaky slope {a} in the gain",
                  "PReLU": f"He et al. 2015 for PReLU, with its starting slope {a:.4g} in the gain",
                  "ELU": "ELU is ReLU-like for x > 0: He et al. 2015 (ReLU gain)",
                  "Maxout": "maxout units are piecewise linear like ReLU: He et al. 2015 (ReLU gain)",
                  "ReLU6": "ReLU6 is ReLU for unit-scale inputs: He et al. 2015 (ReLU gain)"}.get(
            activation, f"{activation} is ReLU-like (about 0 for x << 0, x for x >> 0): He et al. 2015 (ReLU gain)")
    else:
        nonlinearity = activation.lower() if activation in _SATURATING else "linear"
        gain = calculate_gain(nonlinearity) if activation in _SATURATING else OUTPUT_GAIN
        xavier_uniform_(weight, gain=gain)
        std = gain * math.sqrt(2.0 / (fan_in + fan_out))
        scheme = f"xavier_uniform_(gain={gain:.4g})"
        if activation == "Hardtanh":
            reason = "Glorot & Bengio 2010 for Hardtanh, gain 1 (it is the identity on [-1, 1])"
        elif activation in _SATURATING:
            reason = f"Glorot & Bengio 2010 for {activation}, with the {activation.lower()} gain"
        elif activation in _OUTPUT:
            reason = (f"output layer ({activation} follows): Glorot & Bengio 2010 scaled by {OUTPUT_GAIN:g}, so that "
                      "the first loss is ln(C) (Karpathy: 'init well')")
        else:
            reason = (f"{missing} (an output layer): Glorot & Bengio 2010 scaled by {OUTPUT_GAIN:g}, so that the "
                      "outputs start near 0 and the first loss near ln(C) (Karpathy: 'init well')")
    if getattr(layer, "bias", None) is not None:
        zeros_(layer.bias)
    return InitChoice(name, tuple(weight.shape), activation, scheme, std, gain, reason)
