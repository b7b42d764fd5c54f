"""``validation``: is the validation loss measured as the lecture's second stage needs it?

"Observe training vs validation losses" only works when validation measures the model as it will be
used: in eval mode, dropout off and batch normalization on its running statistics.  A hand-written
loop that forgets ``model.eval()`` validates a randomly thinned network (dropout) and normalizes with
the validation batch's own statistics while moving the running ones (batch normalization) - the
curve is noisy and biased.  :class:`ValidationModeHook` (a forward pre-hook on the model) sees every
forward pass made with gradients off while a dropout or batch-normalization layer is in training
mode, which is what such a validation does.

The check also knows the other side: dropout and data augmentation make the *training* loss harder
than the validation loss (units dropped, samples distorted), so validation loss below training loss
is expected with them; the check says so (evidence ``val_below_train_expected``) instead of letting
it pass for an unrepresentative validation set.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from gradwise.train.babysit.check import Check, make

__all__ = ["ValidationModeHook", "mode_sensitive_layers", "regularization", "grad_enabled", "check_validation"]

NAME = "validation"
#: Class names of training-time data augmentation (torchvision's and gradwise's), beyond ``Random*``.
_AUGMENTATIONS = ("MixUp", "CutMix", "RandAugment", "AutoAugment", "TrivialAugmentWide", "AugMix", "ColorJitter",
                  "GaussianBlur", "GaussianNoise", "ElasticTransform", "SpecAugment", "TimeMasking",
                  "FrequencyMasking", "AddNoise", "TimeShift", "SynonymSwap", "RandomErasing")


def mode_sensitive_layers(model: Any) -> list[tuple[str, Any]]:
    """``(name, module)`` of the layers that compute differently in training mode: dropout and batch norm."""
    return [(name, m) for name, m in model.named_modules()
            if "Dropout" in type(m).__name__ or "BatchNorm" in type(m).__name__]


def _grad_mode(engine: Any) -> Callable[[], bool]:
    if engine.name == "torch":
        import torch

        return torch.is_grad_enabled
    from gradwise.tensor.grad_mode import is_grad_enabled

    return is_grad_enabled


def grad_enabled(engine: Any) -> bool:
    """Whether the model's framework records gradients now (a validation runs under ``no_grad``)."""
    return _grad_mode(engine)()


class ValidationModeHook:
    """Forward pre-hook: reports (once per run, to ``report``) a forward pass made with gradients off while a
    dropout or batch-normalization layer is in training mode.  Copies of the model (``copy.deepcopy``,
    pickling) get an inert hook, so that a saved or copied model neither reports nor drags the babysitter."""

    def __init__(self, report: Callable[[list[str]], None] | None, engine: Any = None,
                 layers: Sequence[tuple[str, Any]] = ()) -> None:
        self.report, self.engine, self.layers = report, engine, list(layers)
        self.paused = False
        self._grad_enabled = _grad_mode(engine) if report is not None else None

    def __call__(self, module: Any, args: Any) -> None:
        if self.report is None or self.paused or not module.training or self._grad_enabled():
            return
        active = [name for name, m in self.layers if m.training and getattr(m, "p", 1) != 0]
        if active:
            self.report(active)

    def __deepcopy__(self, memo: dict) -> "ValidationModeHook":
        return ValidationModeHook(None)

    def __reduce__(self) -> tuple:
        return (ValidationModeHook, (None,))


def _walk(node: Any, depth: int = 0) -> Iterator[Any]:
    """Every object reachable from a loader through ``dataset``/``transform``/``transforms`` and children."""
    if node is None or depth > 6 or isinstance(node, (str, bytes, int, float)):
        return
    yield node
    if isinstance(node, (list, tuple)):
        for item in node:
            yield from _walk(item, depth + 1)
        return
    for attr in ("dataset", "transform", "transforms", "target_transform"):
        value = getattr(node, attr, None)
        if value is not None and value is not node:
            yield from _walk(value, depth + 1)
    children = getattr(node, "children", None)
    if callable(children) and not hasattr(node, "named_modules"):
        try:
            for child in children():
                yield from _walk(child, depth + 1)
        except TypeError:
            return


def regularization(model: Any, loader: Any = None) -> list[str]:
    """What makes the training loss harder than the validation loss: dropout layers with ``p > 0`` and
    random augmentation of the training data (``Random*`` transforms, MixUp, CutMix, ...)."""
    found = []
    rates = sorted({float(getattr(m, "p", 0.0)) for _, m in model.named_modules()
                    if "Dropout" in type(m).__name__ and float(getattr(m, "p", 0.0)) > 0})
    if rates:
        found.append("dropout " + "/".join(f"{p:g}" for p in rates))
    if loader is not None:
        names = []
        seen: set[int] = set()
        for node in _walk(loader):
            if id(node) in seen:
                continue
            seen.add(id(node))
            cls = type(node).__name__
            if (cls.startswith("Random") or cls in _AUGMENTATIONS) and cls not in names:
                names.append(cls)
        if names:
            found.append("augmentation (" + ", ".join(names[:4]) + ")")
    return found


def check_validation(train_mode_layers: Sequence[str] | None, regularized: Sequence[str], below: int, epochs: int,
                     driver_eval: bool = False) -> Check:
    """Warn when validation ran with dropout/batch norm in training mode (``train_mode_layers``); otherwise pass,
    saying whether validation loss below training loss (``below`` of ``epochs``) is what the run's dropout
    or augmentation (``regularized``) makes expected."""
    evidence = dict(regularization=list(regularized), val_below_train_epochs=below, epochs=epochs,
                    val_below_train_expected=bool(regularized))
    if train_mode_layers:
        shown = ", ".join(repr(n) for n in list(train_mode_layers)[:4])
        return make(NAME, "warn", f"a forward pass without gradients (a validation) ran with {shown} in training mode: "
                                  "dropout thins the network at random and batch normalization uses the batch's own "
                                  "statistics (and moves its running ones with the validation data) - call "
                                  "model.eval() before validating and model.train() after",
                    symptom="train_mode", layers=list(train_mode_layers), **evidence)
    how = "in eval mode" + (" (set by the training loop)" if driver_eval else "")
    if below and regularized:
        return make(NAME, "pass", f"validation {how}; its loss is below the training loss in {below} of {epochs} "
                                  f"epoch(s), as expected with {' and '.join(regularized)}: the training loss is "
                                  "measured on the harder, regularized task", **evidence)
    if regularized:
        return make(NAME, "pass", f"validation {how}; with {' and '.join(regularized)} its loss may sit below the "
                                  "training loss, as expected", **evidence)
    if not epochs:
        return make(NAME, "pass", "no validation result seen (no train-mode forward pass without gradients either)",
                    **evidence)
    return make(NAME, "pass", f"validation {how}", **evidence)
