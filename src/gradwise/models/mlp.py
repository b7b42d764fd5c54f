"""`mlp(sizes)`: a fully-connected network as the Sequential a PyTorch user would write."""
from __future__ import annotations

from collections.abc import Sequence

from gradwise import nn

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU}


def activation_layer(name: str) -> nn.Module:
    """A fresh activation module by name (``relu``, ``tanh``, ``sigmoid``, ``leaky_relu``, ``elu``)."""
    try:
        return _ACTIVATIONS[name.lower()]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(_ACTIVATIONS)}") from None


def mlp(sizes: Sequence[int], activation: str = "relu", dropout: float = 0.0) -> nn.Sequential:
    """``Linear(sizes[0], sizes[1]), act, ..., Linear(sizes[-2], sizes[-1])`` as one `nn.Sequential`.

    The layout (and so the state-dict keys ``0.weight``, ``0.bias``, ``2.weight`` ...) is that of
    ``torch.nn.Sequential(nn.Linear(...), nn.ReLU(), nn.Linear(...), ...)``; no activation after
    the last layer (it produces logits).  ``dropout > 0`` adds a `Dropout` after each hidden
    activation, which shifts the indices of the later layers.
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"mlp: sizes needs at least an input and an output size, all positive, got {sizes}")
    activation_layer(activation)  # an unknown name fails even without hidden layers
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(activation_layer(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)
