"""Discriminative learning rates for fine-tuning: smaller steps for the more generic, earlier layers.

The lecture asks "how to set the learning rate for fine-tuning?".  The usual answers:
fine-tune with about a tenth of the from-scratch learning rate (the transferred weights are
already good; large steps would destroy them), and give earlier layers - generic edges and
textures - even smaller rates than later, task-specific ones (discriminative fine-tuning,
Howard & Ruder 2018, ULMFiT; Yosinski et al. 2014 on how transferable each layer is).
:func:`param_groups` builds the optimizer's parameter groups for that (``gradwise.optim`` and
``torch.optim`` both take them), and :func:`fine_tune` does the whole recipe - new head, freezing,
per-stage rates - and trains with :func:`gradwise.train.fit`, for gradwise and PyTorch models alike.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gradwise.transfer._engine import framework, is_batchnorm
from gradwise.transfer.freezing import Names, _matches

Module = Any   # a gradwise.nn.Module or a torch.nn.Module


def layer_groups(model: Module) -> list[str]:
    """The model's stages from input to head, as module names, for per-stage learning rates.

    The top-level children that hold parameters (ResNet: ``conv1``, ``layer1`` .. ``layer4``,
    ``fc``); when there are fewer than three (AlexNet/VGG/LeNet: ``features``,
    ``classifier``), the Sequential ones are split into their layers (``features.0``,
    ``features.3``, ...).  A normalisation layer joins the group before it (``bn1`` goes with
    ``conv1``), so a layer and its BatchNorm always share a rate.
    """
    fw = framework(model)

    def with_params(module: Module, prefix: str) -> list[tuple[str, Module]]:
        return [(f"{prefix}{n}", m) for n, m in module.named_children() if any(True for _ in m.parameters())]

    children = with_params(model, "")
    if len(children) < 3:
        expanded = []
        for name, child in children:
            inner = with_params(child, name + ".") if fw.is_sequential(child) else []
            expanded += inner if inner else [(name, child)]
        children = expanded
    groups: list[list[str]] = []
    for name, module in children:
        if is_batchnorm(module) and groups:
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
        optimizer = torch.optim.Adam(param_groups(torch_model, base_lr=1e-4, decay=0.5, head_lr=1e-3))
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


def fine_tune(model: Module, train: Any, val: Any = None, *, num_classes: int | None = None, freeze: Names = None,
              lr: float = 1e-3, base_lr: float | None = None, decay: float = 1.0, optimizer: str | Callable = "adam",
              steps: int = 100, batch_size: int = 32, seed: int = 0, babysit: bool = False,
              log_dir: str | Path | None = None, progress: bool = False, device: Any = None,
              augment: Any = None) -> Any:
    """Fine-tune a pretrained ``model`` on ``train`` with :func:`gradwise.train.fit`; returns the History.

    The lecture's recipe in one call: a fresh ``num_classes``-way head (:func:`replace_head`; None
    keeps the head), the parts named by ``freeze`` frozen (:func:`freeze`: module paths, parameter
    names or globs; their BatchNorm statistics too), and per-stage learning rates
    (:func:`param_groups`): the head at ``lr``, the stage before it at ``base_lr * decay``, the one
    before at ``base_lr * decay**2`` ... (``base_lr`` None: ``lr``, one rate for every layer).
    ``optimizer`` is a solver name of the model's framework (``"adam"``, ``"sgd"``: ``torch.optim``'s
    for a PyTorch model) or ``groups -> optimizer``.  Training runs ``steps`` optimizer steps on
    shuffled batches of ``batch_size`` (see :func:`gradwise.transfer._data.train_steps`); ``val``
    adds per-epoch validation (and the curves' diagnosis), ``babysit`` gradwise's checks,
    ``log_dir`` the run directory.  ``train``/``val`` are ``(inputs, labels)`` arrays or datasets.
    ``seed`` seeds every random stream first (gradwise's, NumPy's, Python's, PyTorch's): the new
    head, dropout and the batches repeat.
    """
    from gradwise.train.fit import seed_everything
    from gradwise.transfer._data import as_arrays, train_steps
    from gradwise.transfer.freezing import freeze as freeze_parts
    from gradwise.transfer.heads import replace_head

    seed_everything(seed, framework(model).engine)   # the new head, dropout and batches repeat with the seed
    if num_classes is not None:
        replace_head(model, num_classes)
    if freeze is not None:
        freeze_parts(model, freeze)
    groups = param_groups(model, lr if base_lr is None else base_lr, decay=decay, head_lr=lr)
    if callable(optimizer):
        opt = optimizer(groups)
    else:
        table = framework(model).engine.optimizers()
        if optimizer.lower() not in table:
            raise ValueError(f"optimizer {optimizer!r} is not one of {', '.join(sorted(table))}")
        opt = table[optimizer.lower()](groups)
    x, y = as_arrays(train)
    return train_steps(model, opt, x, y, steps, batch_size, seed, augment,
                       val=as_arrays(val) if val is not None else None, babysit=babysit, log_dir=log_dir,
                       progress=progress, device=device)
