"""Finding and replacing a model's classification head (the lecture's AlexNet 1000 -> 3 example).

Works on gradwise models and on PyTorch models laid out like torchvision's (``fc``,
``classifier[-1]``, ``head``, ``heads``); the new head is a Linear layer of the model's own
framework, on the old head's device and in its dtype.
"""
from __future__ import annotations

from typing import Any

from gradwise.transfer._engine import framework

Module = Any   # a gradwise.nn.Module or a torch.nn.Module

# Where torchvision / timm models keep the last classifier, in the order they are tried.
HEAD_NAMES = ("fc", "classifier", "head", "heads")


def _is_leaf(module: Module) -> bool:
    return next(iter(module.children()), None) is None


def find_head(model: Module) -> tuple[str, Module]:
    """``(dotted name, module)`` of the final Linear layer that produces the class scores.

    ``fc`` for ResNet, ``classifier[-1]`` (``classifier.6``) for AlexNet and VGG, ``head``
    (timm) or ``heads``; otherwise the last Linear in module order (e.g. an ``mlp``).
    """
    fw = framework(model)
    children = dict(model.named_children())
    for attr in HEAD_NAMES:
        module = children.get(attr)
        if module is not None and fw.is_linear(module):
            return attr, module
        if module is not None:
            linears = [(f"{attr}.{n}", m) for n, m in module.named_modules() if fw.is_linear(m)]
            if linears:
                return linears[-1]
    if fw.is_linear(model):
        raise ValueError("the model is a single Linear layer: replace it directly")
    linears = [(n, m) for n, m in model.named_modules() if fw.is_linear(m) and n]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no Linear layer to use as a classification head")
    return linears[-1]


def replace_head(model: Module, num_classes: int, bias: bool | None = None) -> Module:
    """Replace the head found by :func:`find_head` with a fresh ``Linear(in_features, num_classes)``.

    This is the lecture's transfer step: keep the trained encoder, swap AlexNet's 1000-way
    output layer for a 3-way one (cat, dog, elephant).  The new layer is of the model's
    framework (``torch.nn.Linear`` for a PyTorch model) with that framework's default
    initialisation, the old one's dtype and device and (unless ``bias`` says otherwise) its
    bias setting; it sits at the same place in the module tree (state-dict order is kept), so
    the model's forward is unchanged.  Returns the new layer (e.g. to give it its own learning rate).
    """
    name, old = find_head(model)
    use_bias = (old.bias is not None) if bias is None else bias
    new = framework(model).linear(old.in_features, num_classes, bias=use_bias, like=old.weight)
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name)
    parent._modules[attr] = new  # in place (both frameworks keep children there), so a Sequential keeps its order
    return new


def penultimate_layer(model: Module) -> str:
    """The name of the leaf module just before the head: its output is the "top layer" features.

    ``avgpool`` for ResNet, ``classifier.5`` (the last ReLU) for AlexNet and VGG - the
    features the lecture's "linear classifier on top layer" is trained on.
    """
    head, _ = find_head(model)
    leaves = [n for n, m in model.named_modules() if n and _is_leaf(m)]
    position = leaves.index(head)
    if position == 0:
        raise ValueError(f"{type(model).__name__}: nothing comes before the head {head!r}")
    return leaves[position - 1]
