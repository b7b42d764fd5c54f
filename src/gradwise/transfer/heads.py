"""Finding and replacing a model's classification head (the lecture's AlexNet 1000 -> 3 example)."""
from __future__ import annotations

from gradwise import nn
from gradwise.nn.module import Module

# Where torchvision / timm models keep the last classifier, in the order they are tried.
HEAD_NAMES = ("fc", "classifier", "head", "heads")


def find_head(model: Module) -> tuple[str, nn.Linear]:
    """``(dotted name, module)`` of the final Linear layer that produces the class scores.

    ``fc`` for ResNet, ``classifier[-1]`` (``classifier.6``) for AlexNet and VGG, ``head``
    (timm) or ``heads``; otherwise the last Linear in module order (e.g. an ``mlp``).
    """
    for attr in HEAD_NAMES:
        module = model._modules.get(attr)
        if isinstance(module, nn.Linear):
            return attr, module
        if module is not None:
            linears = [(f"{attr}.{n}", m) for n, m in module.named_modules() if isinstance(m, nn.Linear)]
            if linears:
                return linears[-1]
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear) and n]
    if isinstance(model, nn.Linear):
        raise ValueError("the model is a single Linear layer: replace it directly")
    if not linears:
        raise ValueError(f"{type(model).__name__} has no Linear layer to use as a classification head")
    return linears[-1]


def replace_head(model: Module, num_classes: int, bias: bool | None = None) -> nn.Linear:
    """Replace the head found by :func:`find_head` with a fresh ``Linear(in_features, num_classes)``.

    This is the lecture's transfer step: keep the trained encoder, swap AlexNet's 1000-way
    output layer for a 3-way one (cat, dog, elephant).  The new layer has PyTorch's default
    initialisation, the old one's dtype and (unless ``bias`` says otherwise) its bias
    setting; it sits at the same place in the module tree (state-dict order is kept), so the
    model's forward is unchanged.  Returns the new layer (e.g. to give it its own learning rate).
    """
    name, old = find_head(model)
    use_bias = (old.bias is not None) if bias is None else bias
    new = nn.Linear(old.in_features, int(num_classes), bias=use_bias).to(old.weight.dtype)
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name)
    parent._modules[attr] = new  # in place, so a Sequential keeps its order
    return new


def penultimate_layer(model: Module) -> str:
    """The name of the leaf module just before the head: its output is the "top layer" features.

    ``avgpool`` for ResNet, ``classifier.5`` (the last ReLU) for AlexNet and VGG - the
    features the lecture's "linear classifier on top layer" is trained on.
    """
    head, _ = find_head(model)
    leaves = [n for n, m in model.named_modules() if n and not m._modules]
    position = leaves.index(head)
    if position == 0:
        raise ValueError(f"{type(model).__name__}: nothing comes before the head {head!r}")
    return leaves[position - 1]
