"""Linear probes: a linear classifier on fixed features of a pretrained model.

The lecture's table recommends it when there is very little data: "Use Linear Classifier
on top layer" for a similar dataset, and - the hard case, a very different dataset -
"Try linear classifier from different stages", because the late features are specific to
the source task while earlier ones are more generic.  :func:`linear_probe` does both:
features from one stage or several (concatenated), standardised with the training
features' statistics, and a softmax-regression layer trained on them.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradwise.nn.module import Module
from gradwise.transfer._data import as_arrays, evaluate, train_steps
from gradwise.transfer._engine import framework
from gradwise.transfer.features import extract_features, feature_extractor, to_vector


class ProbeModelMixin:
    """The behaviour of a probe model, for either framework's ``Module`` (see :class:`ProbeModel`)."""

    def __init__(self, model: Any, layers: Sequence[str], mean: np.ndarray, std: np.ndarray, classifier: Any,
                 pool: str) -> None:
        super().__init__()
        fw = framework(model)
        self.extractor = feature_extractor(model, list(layers))
        self.register_buffer("mean", fw.tensor(mean))
        self.register_buffer("std", fw.tensor(std))
        self.classifier = classifier
        self.pool = pool

    def forward(self, x: Any) -> Any:
        model = self.extractor.model
        fw = framework(model)
        modes = fw.engine.modes(model)
        model.eval()  # fixed features: running BatchNorm statistics, no dropout, whatever the mode
        try:
            with fw.engine.no_grad():
                features = self.extractor(x)
                vector = fw.cat([to_vector(f, self.pool) for f in features.values()], 1)
        finally:
            fw.engine.set_modes(modes)
        return self.classifier((vector - self.mean) / self.std)


class ProbeModel(ProbeModelMixin, Module):
    """Fixed stage outputs -> standardisation -> Linear: predicts new images with a trained probe.

    The wrapped model always runs in eval mode without gradients (its features are fixed);
    only ``classifier`` is a trained layer.  (For a PyTorch model the probe is the same thing as
    a ``torch.nn.Module``: :class:`gradwise.transfer._torch.TorchProbeModel`.)
    """


@dataclass
class ProbeResult:
    """What :func:`linear_probe` measured.

    ``accuracy`` is the validation accuracy with the features of all ``layers`` together;
    ``layer_accuracy`` the accuracy of a probe on each layer alone (when several were given)
    - to pick a stage fairly, compare them on data other than the final test set.
    """

    accuracy: float
    train_accuracy: float
    layers: list[str]
    feature_dim: int
    layer_accuracy: dict[str, float] = field(default_factory=dict)
    model: Any = None   # a ProbeModel (a torch.nn.Module for a PyTorch model)


def fit_linear(train_x: np.ndarray, train_y: np.ndarray, num_classes: int, epochs: int = 200, lr: float = 0.01,
               weight_decay: float = 1e-3, seed: int = 0, like: Any = None) -> Any:
    """Softmax regression on (already standardised) features: full-batch Adam with L2 weight decay, ``epochs``
    steps of :func:`gradwise.train.fit`.  The Linear layer is of the framework (and on the device) of the
    model ``like`` (gradwise when None)."""
    from gradwise.nn import Linear

    fw = framework(like) if like is not None else None
    if fw is not None:
        fw.engine.manual_seed(seed)
        linear = fw.linear(train_x.shape[1], num_classes, dtype=train_x.dtype)
        engine = fw.engine
    else:
        from gradwise.engines.native import NativeEngine

        engine = NativeEngine()
        engine.manual_seed(seed)
        linear = Linear(train_x.shape[1], num_classes).to(train_x.dtype)
    opt = engine.optimizers()["adam"](linear.parameters(), lr=lr, weight_decay=weight_decay)
    train_steps(linear, opt, train_x, train_y, epochs, len(train_x), seed, shuffle=False,
                device=engine.device if engine.name == "torch" else None)
    return linear


def _standardise(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = train.mean(0)
    std = train.std(0)
    return mean, np.where(std > 1e-6, std, 1.0).astype(train.dtype)


def probe_features(feats_train: list[np.ndarray], y_train: np.ndarray, feats_val: list[np.ndarray],
                   y_val: np.ndarray, num_classes: int,
                   **fit: Any) -> tuple[float, float, Any, np.ndarray, np.ndarray]:
    """Standardise concatenated (N, D) features, fit softmax regression, score it.

    Returns ``(val accuracy, train accuracy, linear layer, feature mean, feature std)``; ``like=model``
    among the ``fit`` arguments builds the layer in that model's framework.
    """
    x_train, x_val = np.concatenate(feats_train, 1), np.concatenate(feats_val, 1)
    mean, std = _standardise(x_train)
    linear = fit_linear((x_train - mean) / std, y_train, num_classes, **fit)
    train_acc = evaluate(linear, (x_train - mean) / std, y_train)
    val_acc = evaluate(linear, (x_val - mean) / std, y_val)
    return val_acc, train_acc, linear, mean, std


def probe_stages(model: Any) -> list[str]:
    """The outputs of the last three stages before the head, and the top layer: where to try linear probes
    when the source task is different (the lecture's "linear classifier from different stages")."""
    from gradwise.transfer.finetune import layer_groups
    from gradwise.transfer.heads import penultimate_layer

    stages = [g.split("+")[-1] for g in layer_groups(model)[:-1]][-3:]
    top = penultimate_layer(model)
    return stages + ([top] if top not in stages else [])


def linear_probe(model: Any, layers: str | Sequence[str], train: Any, val: Any, *, num_classes: int | None = None,
                 epochs: int = 200, lr: float = 0.01, weight_decay: float = 1e-3, pool: str = "auto",
                 per_layer: bool = True, seed: int = 0) -> ProbeResult:
    """Train a linear classifier on fixed features of ``model`` at ``layers`` and measure it on ``val``.

    ``train`` and ``val`` are ``(inputs, labels)`` arrays or datasets of pairs.  The model is
    used in eval mode without gradients, so its weights and BatchNorm statistics are
    untouched.  Stage outputs become vectors by ``pool`` (see
    :func:`gradwise.transfer.features.to_vector`); with several ``layers`` their vectors are
    concatenated ("linear classifier from different stages") and, with ``per_layer``, each
    stage is also probed alone.  Returns a :class:`ProbeResult` whose ``model`` classifies
    new inputs.  ``model`` may be a PyTorch model (torchvision's layout or any other): the probe's
    Linear layer and its ``ProbeModel`` are then ``torch.nn`` modules on the model's device.
    """
    layer_list = [layers] if isinstance(layers, str) else list(layers)
    x_train, y_train = as_arrays(train)
    x_val, y_val = as_arrays(val)
    classes = int(num_classes if num_classes is not None else max(y_train.max(), y_val.max()) + 1)
    f_train = extract_features(model, layer_list, x_train, pool=pool)
    f_val = extract_features(model, layer_list, x_val, pool=pool)
    fit = dict(epochs=epochs, lr=lr, weight_decay=weight_decay, seed=seed, like=model)
    val_acc, train_acc, linear, mean, std = probe_features(list(f_train.values()), y_train, list(f_val.values()),
                                                           y_val, classes, **fit)
    by_layer: dict[str, float] = OrderedDict()
    if per_layer and len(layer_list) > 1:
        for name in layer_list:
            by_layer[name] = probe_features([f_train[name]], y_train, [f_val[name]], y_val, classes, **fit)[0]
    return ProbeResult(val_acc, train_acc, layer_list, int(mean.shape[0]), by_layer,
                       probe_model(model, layer_list, mean, std, linear, pool))


def probe_model(model: Any, layers: Sequence[str], mean: np.ndarray, std: np.ndarray, classifier: Any,
                pool: str) -> Any:
    """A :class:`ProbeModel` of ``model``'s framework."""
    if framework(model).is_torch:
        from gradwise.transfer._torch import TorchProbeModel

        return TorchProbeModel(model, layers, mean, std, classifier, pool)
    return ProbeModel(model, layers, mean, std, classifier, pool)
