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

from gradwise import nn, optim
from gradwise.nn.module import Module
from gradwise.tensor.grad_mode import no_grad
from gradwise.tensor.tensor import Tensor
from gradwise.transfer._data import accuracy, as_arrays
from gradwise.transfer.features import FeatureExtractor, extract_features, to_vector


class ProbeModel(Module):
    """Fixed stage outputs -> standardisation -> Linear: predicts new images with a trained probe.

    The wrapped model always runs in eval mode without gradients (its features are fixed);
    only ``classifier`` is a trained layer.
    """

    def __init__(self, model: Module, layers: Sequence[str], mean: np.ndarray, std: np.ndarray,
                 classifier: nn.Linear, pool: str) -> None:
        super().__init__()
        self.extractor = FeatureExtractor(model, list(layers))
        self.register_buffer("mean", Tensor._make(mean))
        self.register_buffer("std", Tensor._make(std))
        self.classifier = classifier
        self.pool = pool

    def forward(self, x: Tensor) -> Tensor:
        model = self.extractor.model
        was_training = model.training
        model.eval()  # fixed features: running BatchNorm statistics, no dropout, whatever the mode
        try:
            with no_grad():
                features = self.extractor(x)
        finally:
            model.train(was_training)
        vector = Tensor._make(np.concatenate([to_vector(f, self.pool)._data for f in features.values()], axis=1))
        return self.classifier((vector - self.mean) / self.std)


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
    model: ProbeModel | None = None


def fit_linear(train_x: np.ndarray, train_y: np.ndarray, num_classes: int, epochs: int = 200, lr: float = 0.01,
               weight_decay: float = 1e-3, seed: int = 0) -> nn.Linear:
    """Softmax regression on (already standardised) features: full-batch Adam with L2 weight decay."""
    from gradwise.tensor.random import manual_seed

    manual_seed(seed)
    linear = nn.Linear(train_x.shape[1], num_classes).to(train_x.dtype)
    opt = optim.Adam(linear.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    x, y = Tensor._make(train_x), Tensor._make(train_y)
    for _ in range(epochs):
        loss = loss_fn(linear(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return linear


def _standardise(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = train.mean(0)
    std = train.std(0)
    return mean, np.where(std > 1e-6, std, 1.0).astype(train.dtype)


def probe_features(feats_train: list[np.ndarray], y_train: np.ndarray, feats_val: list[np.ndarray],
                   y_val: np.ndarray, num_classes: int,
                   **fit: Any) -> tuple[float, float, nn.Linear, np.ndarray, np.ndarray]:
    """Standardise concatenated (N, D) features, fit softmax regression, score it.

    Returns ``(val accuracy, train accuracy, linear layer, feature mean, feature std)``.
    """
    x_train, x_val = np.concatenate(feats_train, 1), np.concatenate(feats_val, 1)
    mean, std = _standardise(x_train)
    linear = fit_linear((x_train - mean) / std, y_train, num_classes, **fit)
    with no_grad():
        train_acc = accuracy(linear(Tensor._make((x_train - mean) / std)), y_train)
        val_acc = accuracy(linear(Tensor._make((x_val - mean) / std)), y_val)
    return val_acc, train_acc, linear, mean, std


def linear_probe(model: Module, layers: str | Sequence[str], train: Any, val: Any, *, num_classes: int | None = None,
                 epochs: int = 200, lr: float = 0.01, weight_decay: float = 1e-3, pool: str = "auto",
                 per_layer: bool = True, seed: int = 0) -> ProbeResult:
    """Train a linear classifier on fixed features of ``model`` at ``layers`` and measure it on ``val``.

    ``train`` and ``val`` are ``(inputs, labels)`` arrays or datasets of pairs.  The model is
    used in eval mode without gradients, so its weights and BatchNorm statistics are
    untouched.  Stage outputs become vectors by ``pool`` (see
    :func:`gradwise.transfer.features.to_vector`); with several ``layers`` their vectors are
    concatenated ("linear classifier from different stages") and, with ``per_layer``, each
    stage is also probed alone.  Returns a :class:`ProbeResult` whose ``model`` classifies
    new inputs.
    """
    layer_list = [layers] if isinstance(layers, str) else list(layers)
    x_train, y_train = as_arrays(train)
    x_val, y_val = as_arrays(val)
    classes = int(num_classes if num_classes is not None else max(y_train.max(), y_val.max()) + 1)
    f_train = extract_features(model, layer_list, x_train, pool=pool)
    f_val = extract_features(model, layer_list, x_val, pool=pool)
    fit = dict(epochs=epochs, lr=lr, weight_decay=weight_decay, seed=seed)
    val_acc, train_acc, linear, mean, std = probe_features(list(f_train.values()), y_train, list(f_val.values()),
                                                           y_val, classes, **fit)
    by_layer: dict[str, float] = OrderedDict()
    if per_layer and len(layer_list) > 1:
        for name in layer_list:
            by_layer[name] = probe_features([f_train[name]], y_train, [f_val[name]], y_val, classes, **fit)[0]
    return ProbeResult(val_acc, train_acc, layer_list, int(mean.shape[0]), by_layer,
                       ProbeModel(model, layer_list, mean, std, linear, pool))
