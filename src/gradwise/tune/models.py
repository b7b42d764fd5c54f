"""The network a trial trains: the training config's models, plus a small convnet whose filters can be searched.

The lecture's second stage asks to "play with network architecture (# filters etc.)".  The training
config's models (``mlp``, ``linear``, ``lenet5``) fix their convolutions; :func:`small_cnn` is a plain
VGG-style stack - ``depth`` blocks of 3x3 convolution with ``filters`` channels, activation and 2x2 max
pooling (while the image is at least 2 pixels wide), then the ``model.hidden`` layers of an MLP head -
so that ``model.filters`` and ``model.depth`` are real search dimensions even on 8x8 digits.

With ``[model] factory`` the model is whatever the factory builds - a gradwise or a PyTorch
model (:mod:`gradwise.tune.factory`); its optimizer and learning-rate schedule are then built
from ``[optim]`` and ``[schedule]`` in the model's own framework (``torch.optim`` for PyTorch).
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from gradwise import nn
from gradwise.models.mlp import activation_layer, mlp
from gradwise.train.config import Config, ConfigError, DataBundle, build_model, build_optimizer, fit_kwargs

__all__ = ["small_cnn", "build_trial_model", "build_factory_model", "build_trial_optimizer", "trial_fit_kwargs",
           "parameter_count"]


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


def build_trial_model(cfg: Config, arch: Any, data: DataBundle,
                      params: dict[str, Any] | None = None) -> tuple[Any, list[Any]]:
    """The trial's model, initialised per ``[model] init`` (He/Xavier by activation, the lecture's advice);
    a factory's model as the factory returns it (``params``: the trial's sampled parameters, offered to it).
    The random streams are seeded with ``[train] seed`` first, so every trial starts from the same stream."""
    seed = cfg["train"]["seed"]
    if arch.factory is not None:
        return build_factory_model(arch, data, seed, dict(params or {})), []
    import gradwise

    gradwise.manual_seed(seed)            # same initial-weight stream for every trial
    if arch.kind != "cnn":
        return build_model(cfg, data)
    m = cfg["model"]
    model = small_cnn(data.input_shape, data.outputs, filters=arch.filters, depth=arch.depth, hidden=m["hidden"],
                      activation=m["activation"], dropout=m["dropout"])
    choices = nn.init.by_activation(model) if m["init"] == "by_activation" else []
    return model, choices


def build_factory_model(arch: Any, data: DataBundle, seed: int, params: dict[str, Any]) -> Any:
    """Call the ``[model] factory`` with what it declares (see :mod:`gradwise.tune.factory`), seeded."""
    from gradwise.engines import engine_of
    from gradwise.train.fit import seed_everything
    from gradwise.tune.factory import factory_kwargs, factory_name, load_factory

    fn = load_factory(arch.factory)          # imports the factory's module (and PyTorch with it, if it uses it)
    seed_everything(seed)
    if "torch" in sys.modules:               # the same initial weights for every trial of a PyTorch model too
        sys.modules["torch"].manual_seed(seed)
    offered = {"input_shape": tuple(data.input_shape), "num_outputs": data.outputs, "num_classes": data.outputs,
               "params": dict(params), **arch.factory_args}
    model = fn(**factory_kwargs(fn, offered, arch.factory))
    if engine_of(model) is None:
        raise ConfigError(f"config [model] factory: {factory_name(arch.factory)} returned a {type(model).__name__}, "
                          "not a gradwise.nn.Module or a torch.nn.Module")
    return model


#: The ``[optim]`` solver in the model's framework (:func:`gradwise.train.config.build_optimizer`).
build_trial_optimizer = build_optimizer


def trial_fit_kwargs(cfg: Config, data: DataBundle, optimizer: Any, model: Any) -> dict[str, Any]:
    """:func:`gradwise.train.config.fit_kwargs` (its ``[schedule]`` is built in the optimizer's framework)."""
    return fit_kwargs(cfg, data, optimizer)


def parameter_count(model: Any) -> int:
    """Number of trainable numbers in ``model`` (gradwise or PyTorch)."""
    return int(sum(int(np.prod(tuple(p.shape))) for p in model.parameters()))
