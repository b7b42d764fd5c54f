"""The network a trial trains: the training config's models, plus a small convnet whose filters can be searched.

The lecture's second stage asks to "play with network architecture (# filters etc.)".  The training
config's models (``mlp``, ``linear``, ``lenet5``) fix their convolutions; :func:`small_cnn` is a plain
VGG-style stack - ``depth`` blocks of 3x3 convolution with ``filters`` channels, activation and 2x2 max
pooling (while the image is at least 2 pixels wide), then the ``model.hidden`` layers of an MLP head -
so that ``model.filters`` and ``model.depth`` are real search dimensions even on 8x8 digits.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gradwise import nn
from gradwise.models.mlp import activation_layer, mlp
from gradwise.train.config import Config, ConfigError, DataBundle, build_model

__all__ = ["small_cnn", "build_trial_model"]


def small_cnn(input_shape: Sequence[int], num_outputs: int, *, filters: int = 16, depth: int = 2,
              hidden: Sequence[int] = (64,), activation: str = "relu", dropout: float = 0.0) -> nn.Sequential:
    """``depth`` x [Conv2d(3x3, padding 1) -> activation -> MaxPool2d(2)] -> Flatten -> MLP head.

    ``input_shape`` is one sample's ``(C, H, W)``; pooling stops once the feature map is 1 pixel wide.
    """
    if len(input_shape) != 3:
        raise ConfigError(f"config [model] kind: 'cnn' needs image data (C, H, W); the data gives samples of shape "
                          f"{tuple(input_shape)}")
    channels, height, width = (int(v) for v in input_shape)
    layers: list[nn.Module] = []
    for _ in range(int(depth)):
        layers += [nn.Conv2d(channels, int(filters), kernel_size=3, padding=1), activation_layer(activation)]
        channels = int(filters)
        if min(height, width) >= 2:
            layers.append(nn.MaxPool2d(2))
            height, width = height // 2, width // 2
    layers.append(nn.Flatten())
    head = mlp([channels * height * width, *hidden, num_outputs], activation=activation, dropout=dropout)
    return nn.Sequential(*layers, *head)


def build_trial_model(cfg: Config, arch: Any, data: DataBundle) -> tuple[nn.Module, list[Any]]:
    """The trial's model, initialised per ``[model] init`` (He/Xavier by activation, the lecture's advice)."""
    if arch.kind != "cnn":
        return build_model(cfg, data)
    m = cfg["model"]
    model = small_cnn(data.input_shape, data.outputs, filters=arch.filters, depth=arch.depth, hidden=m["hidden"],
                      activation=m["activation"], dropout=m["dropout"])
    choices = nn.init.by_activation(model) if m["init"] == "by_activation" else []
    return model, choices


def parameter_count(model: nn.Module) -> int:
    """Number of trainable numbers in ``model``."""
    return int(sum(np.prod(p.shape) for p in model.parameters()))
