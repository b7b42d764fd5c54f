"""Trained weights for the zoo's constructors, from files already on this machine.

torchvision's ``resnet18(pretrained=True)`` (the lecture's first example) downloads
ImageNet weights into PyTorch's cache, ``$TORCH_HOME/hub/checkpoints`` (by default
``~/.cache/torch/hub/checkpoints``). gradwise never downloads: ``pretrained=True`` reads the
same file from that cache when PyTorch has put it there (through the safe ``.pth`` reader:
no pickle code runs), and ``weights=PATH`` reads any weight file gradwise understands
(``.pth``/``.pt``, ``.safetensors``, ``.npz``). A missing file is an error that says which
file was looked for, where, and how to get it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

PathLike = Union[str, os.PathLike]

from gradwise.nn.module import Module

# The file names torchvision gives its ImageNet weights (the hash is part of the name).
TORCHVISION_FILES = {
    "alexnet": "alexnet-owt-7be5be79.pth",
    "vgg11": "vgg11-8a719046.pth",
    "vgg11_bn": "vgg11_bn-6002323d.pth",
    "resnet18": "resnet18-f37072fd.pth",
    "resnet34": "resnet34-b627a593.pth",
    "resnet50": "resnet50-0676ba61.pth",
}


def torch_hub_checkpoints() -> Path:
    """PyTorch's download cache for weights: ``$TORCH_HOME/hub/checkpoints``."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch")
    return Path(torch_home) / "hub" / "checkpoints"


def apply_weights(model: Module, arch: str, weights: PathLike | None, pretrained: bool) -> Module:
    """Load ``weights`` (a file) into ``model``, or torchvision's cached ImageNet file when
    ``pretrained`` is true; return the model. Shapes are checked key by key."""
    from gradwise.models.weights import load_into

    if weights is None and not pretrained:
        return model
    if weights is None:
        path = torch_hub_checkpoints() / TORCHVISION_FILES[arch]
        if not path.is_file():
            raise FileNotFoundError(
                f"{arch}(pretrained=True): gradwise downloads nothing, and torchvision's ImageNet weights "
                f"'{path.name}' are not in PyTorch's cache {path.parent} (set TORCH_HOME to look elsewhere). "
                f"Copy that file there from a machine where torchvision.models.{arch}(pretrained=True) has run, "
                f"or pass weights='path/to/file.pth' (or .safetensors / .npz).")
        weights = path
    load_into(model, weights, cast=True)
    return model
