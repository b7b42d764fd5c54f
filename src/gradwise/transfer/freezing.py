"""Freezing: parameters that transfer unchanged, and BatchNorm statistics that stay fixed with them.

Freezing is the lecture's "maybe freeze some layers?": a frozen parameter has
``requires_grad=False``, so backward gives it no gradient (its ``.grad`` stays None),
optimizers skip it, and - when a whole early part of the network is frozen - no graph is
even built through it.

BatchNorm needs one more thing.  Its running mean and variance are not parameters but are
updated by every forward pass in training mode, and in training mode it normalises with the
statistics of the (small, new) batch rather than the ones learnt on the source data.  A
frozen BatchNorm layer is therefore kept in eval mode: :func:`freeze` registers a forward
pre-hook that switches it back to eval before each of its forward passes, so it keeps
using (and not updating) the source statistics even after ``model.train()``.
:func:`unfreeze` removes the hook.  (Keras does the same for ``trainable=False`` BatchNorm.)

Every function here works on gradwise and PyTorch models alike (torchvision's included): both
have ``named_parameters``, ``requires_grad_`` and forward pre-hooks with the same signatures.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import Any

from gradwise.transfer._engine import is_batchnorm

Module = Any   # a gradwise.nn.Module or a torch.nn.Module
_HOOK_ATTR = "_gradwise_frozen_bn_hook"

Names = str | Iterable[str] | None


def _selectors(names: Names) -> list[str] | None:
    if names is None:
        return None
    return [names] if isinstance(names, str) else list(names)


def _matches(name: str, selector: str) -> bool:
    """A parameter or module name matches a module path prefix (``layer1``) or a glob (``layer*.bn?.*``)."""
    return name == selector or name.startswith(selector + ".") or fnmatch.fnmatchcase(name, selector)


def select_parameters(model: Module, names: Names = None) -> list[tuple[str, Any]]:
    """The ``(name, parameter)`` pairs picked by ``names`` (all of them for None).

    Each selector is a module path (``"features"``, ``"layer1.0"``: every parameter under it),
    a full parameter name (``"fc.weight"``), or a glob on parameter names (``"layer[12].*"``,
    ``"*.bn1.*"``).  A selector that matches nothing is an error listing the top-level names,
    because a typo would otherwise silently freeze nothing.
    """
    params = list(model.named_parameters())
    selectors = _selectors(names)
    if selectors is None:
        return params
    for selector in selectors:
        if not any(_matches(n, selector) for n, _ in params):
            top = sorted({n.split(".")[0] for n, _ in params})
            raise ValueError(f"no parameter of {type(model).__name__} matches {selector!r}; its top-level modules "
                             f"with parameters are {top}")
    return [(n, p) for n, p in params if any(_matches(n, s) for s in selectors)]


def _batchnorms_in(model: Module, selectors: list[str] | None) -> list[Module]:
    """BatchNorm modules inside the selected part (all of ``model`` for None)."""
    found = []
    for name, module in model.named_modules():
        if is_batchnorm(module) and (selectors is None or any(
                _matches(name, s) or _matches(name + ".weight", s) for s in selectors)):
            found.append(module)
    return found


def _keep_eval(module: Module, inputs: tuple) -> None:
    object.__setattr__(module, "training", False)


def freeze(model: Module, names: Names = None, bn_eval: bool = True) -> list[str]:
    """Freeze ``model`` (or the parts picked by ``names``) and return the frozen parameters' names.

    ``model`` may be a whole model or a sub-module (``freeze(model.features)``); ``names``
    selects by module path, parameter name or glob (see :func:`select_parameters`).  Frozen
    parameters get ``requires_grad=False`` and lose any stale ``.grad``.  With ``bn_eval``
    (the default) the BatchNorm layers in the frozen part stay in eval mode from now on,
    even under ``model.train()``, so their running statistics stay fixed (module docstring).
    """
    selected = select_parameters(model, names)
    for _, param in selected:
        param.requires_grad_(False)
        param.grad = None
    if bn_eval:
        for bn in _batchnorms_in(model, _selectors(names)):
            if getattr(bn, _HOOK_ATTR, None) is None:
                object.__setattr__(bn, _HOOK_ATTR, bn.register_forward_pre_hook(_keep_eval))
            object.__setattr__(bn, "training", False)
    return [n for n, _ in selected]


def unfreeze(model: Module, names: Names = None) -> list[str]:
    """Undo :func:`freeze` for ``model`` or the parts picked by ``names``; returns the parameters' names.

    The parameters require gradients again and the BatchNorm layers in that part follow
    ``train()``/``eval()`` again (they take ``model``'s current mode).
    """
    selected = select_parameters(model, names)
    for _, param in selected:
        param.requires_grad_(True)
    for bn in _batchnorms_in(model, _selectors(names)):
        handle = getattr(bn, _HOOK_ATTR, None)
        if handle is not None:
            handle.remove()
            object.__setattr__(bn, _HOOK_ATTR, None)
            object.__setattr__(bn, "training", model.training)
    return [n for n, _ in selected]


def is_frozen(module: Module) -> bool:
    """Whether every parameter of ``module`` is frozen (False for a module without parameters)."""
    params = list(module.parameters())
    return bool(params) and not any(p.requires_grad for p in params)


def trainable_parameters(model: Module) -> list[Any]:
    """The parameters an optimizer should get after freezing: those that still require grad."""
    return [p for p in model.parameters() if p.requires_grad]
