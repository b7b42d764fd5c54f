"""Discriminative learning rates for fine-tuning: smaller steps for the more generic, earlier layers.

The lecture asks "how to set the learning rate for fine-tuning?".  The usual answers:
fine-tune with about a tenth of the from-scratch learning rate (the transferred weights are
already good; large steps would destroy them), and give earlier layers - generic edges and
textures - even smaller rates than later, task-specific ones (discriminative fine-tuning,
Howard & Ruder 2018, ULMFiT; Yosinski et al. 2014 on how transferable each layer is).
:func:`param_groups` builds the optimizer's parameter groups for that.
"""
from __future__ import annotations

from collections.abc import Sequence

from gradwise import nn
from gradwise.nn.module import Module
from gradwise.transfer.freezing import _matches

_NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d)


def layer_groups(model: Module) -> list[str]:
    """The model's stages from input to head, as module names, for per-stage learning rates.

    The top-level children that hold parameters (ResNet: ``conv1``, ``layer1`` .. ``layer4``,
    ``fc``); when there are fewer than three (AlexNet/VGG/LeNet: ``features``,
    ``classifier``), the Sequential ones are split into their layers (``features.0``,
    ``features.3``, ...).  A normalisation layer joins the group before it (``bn1`` goes with
    ``conv1``), so a layer and its BatchNorm always share a rate.
    """
    def with_params(module: Module, prefix: str) -> list[tuple[str, Module]]:
        return [(f"{prefix}{n}", m) for n, m in module.named_children() if any(True for _ in m.parameters())]

    children = with_params(model, "")
    if len(children) < 3:
        expanded = []
        for name, child in children:
            inner = with_params(child, name + ".") if isinstance(child, nn.Sequential) else []
            expanded += inner if inner else [(name, child)]
        children = expanded
    groups: list[list[str]] = []
    for name, module in children:
        if isinstance(module, _NORM_TYPES) and groups:
            groups[-1].append(name)
        else:
            groups.append([name])
    return ["+".join(g) for g in groups]


def param_groups(model: Module, base_lr: float, decay: float = 0.5, groups: Sequence[str] | None = None,
                 head_lr: float | None = None) -> list[dict]:
    """Optimizer parameter groups with learning rates falling by ``decay`` per stage towards the input.

    The last group (the head) gets ``head_lr`` (default ``base_lr``), the stage before it
    ``base_lr * decay``, the one before ``base_lr * decay**2`` and so on.  ``groups`` are module
    names from input to head (default :func:`layer_groups`; ``"a+b"`` puts two modules in
    one group).  Frozen parameters are left out, so freeze first, then build the groups; a
    group left without trainable parameters is dropped.  Each dict carries a ``"name"``::

        optimizer = gradwise.optim.Adam(param_groups(model, base_lr=1e-4, decay=0.5, head_lr=1e-3))
    """
    names = list(groups) if groups is not None else layer_groups(model)
    params = list(model.named_parameters())
    taken: set[int] = set()
    out = []
    for depth, group in enumerate(reversed(names)):
        members = [p for n, p in params if id(p) not in taken and p.requires_grad
                   and any(_matches(n, part) for part in group.split("+"))]
        taken.update(id(p) for p in members)
        lr = (head_lr if head_lr is not None else base_lr) if depth == 0 else base_lr * decay ** depth
        if members:
            out.append({"params": members, "lr": lr, "name": group})
    leftover = [n for n, p in params if p.requires_grad and id(p) not in taken]
    if leftover:
        raise ValueError(f"parameters outside every group: {leftover[:6]}{' ...' if len(leftover) > 6 else ''}")
    return out[::-1]


