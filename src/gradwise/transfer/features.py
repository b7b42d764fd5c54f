"""Outputs of intermediate stages: the "different stages" of the lecture's table.

:func:`feature_extractor` wraps a model so that calling it returns the outputs of named
sub-modules (``"layer2"``, ``"features.5"``), captured with forward hooks; the forward pass
stops as soon as the last requested output is known, so e.g. AlexNet's large classifier is
never run for its conv features.  A PyTorch model (torchvision's ResNet, VGG, ...) gets a
``torch.nn.Module`` extractor, a gradwise model a gradwise one.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from gradwise.engines import to_numpy
from gradwise.nn.module import Module
from gradwise.transfer._engine import framework


class _Captured(Exception):
    """Raised by the last hook needed to stop the forward pass early."""


class FeatureExtractorMixin:
    """The behaviour of a feature extractor, for either framework's ``Module`` (see :func:`feature_extractor`)."""

    def __init__(self, model: Any, layers: str | Sequence[str]) -> None:
        super().__init__()
        self.single = isinstance(layers, str)
        self.layers = [layers] if self.single else list(layers)
        if not self.layers:
            raise ValueError("feature_extractor needs at least one layer name")
        names = dict(model.named_modules())
        unknown = [n for n in self.layers if n not in names]
        if unknown:
            stages = [n for n in names if n and "." not in n]
            raise ValueError(f"{type(model).__name__} has no sub-module {unknown}; its top-level stages are {stages} "
                             "(nested ones are dotted: 'features.3', 'layer1.0')")
        self.model = model

    def forward(self, x: Any) -> Any:
        captured: dict[str, Any] = {}
        handles = []

        def hook_for(name: str):
            def hook(module, inputs, output):
                captured[name] = output
                if len(captured) == len(self.layers):
                    raise _Captured
            return hook

        for name in self.layers:
            handles.append(self.model.get_submodule(name).register_forward_hook(hook_for(name)))
        try:
            self.model(x)
        except _Captured:
            pass
        finally:
            for handle in handles:
                handle.remove()
        missing = [n for n in self.layers if n not in captured]
        if missing:
            raise RuntimeError(f"the forward pass never called {missing} (not used by {type(self.model).__name__}"
                               ".forward?)")
        if self.single:
            return captured[self.layers[0]]
        return OrderedDict((n, captured[n]) for n in self.layers)


class FeatureExtractor(FeatureExtractorMixin, Module):
    """``extractor(x)``: the output of one named stage (a Tensor) or of several (an OrderedDict by name)."""


def feature_extractor(model: Any, layers: str | Sequence[str]) -> Any:
    """A callable Module giving the outputs of the sub-module(s) ``layers`` of ``model``.

    One name gives a tensor, a list gives an OrderedDict by name (torchvision's
    ``create_feature_extractor`` returns such a dict too).  Gradients flow through as usual,
    so the extractor can be fine-tuned; wrap calls in ``no_grad()`` for fixed features.  For a
    PyTorch model the extractor is a ``torch.nn.Module`` (so ``.to(device)``, ``.parameters()``
    and ``torch.optim`` work on it).
    """
    if framework(model).is_torch:
        from gradwise.transfer._torch import TorchFeatureExtractor

        return TorchFeatureExtractor(model, layers)
    return FeatureExtractor(model, layers)


def to_vector(feature: Any, pool: str = "auto", max_dim: int = 4096) -> Any:
    """One feature vector per sample from a stage output: flattened, or channel averages of a map.

    ``pool="flatten"`` keeps every value, ``"avg"`` averages each channel over its spatial
    positions (a (N, C, H, W) map becomes (N, C)), ``"auto"`` flattens unless that gives more
    than ``max_dim`` values, then averages.  Works on either framework's tensors.
    """
    if feature.ndim <= 2:
        return feature.reshape(feature.shape[0], -1)
    if pool not in ("auto", "flatten", "avg"):
        raise ValueError(f"pool must be 'auto', 'flatten' or 'avg', got {pool!r}")
    flat_dim = int(np.prod(feature.shape[1:]))
    if pool == "flatten" or (pool == "auto" and flat_dim <= max_dim):
        return feature.reshape(feature.shape[0], -1)
    return feature.reshape(feature.shape[0], feature.shape[1], -1).mean(-1)


def extract_features(model: Any, layers: str | Sequence[str], x: Any, batch_size: int = 256,
                     pool: str = "auto") -> "OrderedDict[str, np.ndarray]":
    """Fixed features of ``x`` at each of ``layers`` as NumPy (N, D) arrays, model in eval mode, no grad.

    ``x`` is an array (or a tensor of either framework); batches are cast to the model's float
    dtype and moved to its device.  The model's train/eval modes are restored afterwards.
    """
    fw = framework(model)
    engine = fw.engine
    extractor = feature_extractor(model, [layers] if isinstance(layers, str) else layers)
    x = to_numpy(x)
    dtype = engine.float_dtype(model)
    modes = engine.modes(model)
    model.eval()
    chunks: dict[str, list[np.ndarray]] = {n: [] for n in extractor.layers}
    try:
        with engine.no_grad():
            for start in range(0, len(x), batch_size):
                batch = np.asarray(x[start:start + batch_size])
                if batch.dtype.kind == "f" and batch.dtype != dtype:
                    batch = batch.astype(dtype)
                outputs = extractor(fw.tensor(batch))
                for name, out in outputs.items():
                    chunks[name].append(engine.to_numpy(to_vector(out, pool)))
    finally:
        engine.set_modes(modes)
    return OrderedDict((n, np.concatenate(c)) for n, c in chunks.items())
