"""A PyTorch model factory for the tune tests (``[model] factory = "tune_torch_models:build"``).

Importable because pytest puts ``tests/`` on ``sys.path`` (and the tests put it on ``PYTHONPATH``
for worker processes).
"""
from __future__ import annotations

import math

import torch
from torch import nn


def build(input_shape, num_classes, width: int = 32, depth: int = 1, dropout: float = 0.0):
    """An MLP of ``depth`` hidden layers of ``width`` ReLU units, He-initialised, Xavier on the logits."""
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = math.prod(input_shape)
    for _ in range(depth):
        linear = nn.Linear(fan_in, width)
        nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
        nn.init.zeros_(linear.bias)
        layers += [linear, nn.ReLU()] + ([nn.Dropout(dropout)] if dropout else [])
        fan_in = width
    head = nn.Linear(fan_in, num_classes)
    nn.init.xavier_uniform_(head.weight)
    nn.init.zeros_(head.bias)
    return nn.Sequential(*layers, head)


def build_everything(**kwargs):
    """A factory that takes whatever it is offered (and records it, for the test of what it gets)."""
    build_everything.seen = dict(kwargs)
    return build(kwargs["input_shape"], kwargs["num_outputs"], width=kwargs.get("width", 16))


def build_needs_channels(input_shape, num_classes, channels):
    """A factory with an argument that only the config can give."""
    return build(input_shape, num_classes, width=channels)


NOT_A_FUNCTION = 3
