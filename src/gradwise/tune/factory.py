"""Your own model in a search: a factory function that builds it - a gradwise or a PyTorch model.

Name it in the config (``[model] factory = "mypkg.models:build"``, an importable ``module:function``)
or pass it to :func:`gradwise.tune.tune` (``factory=build`` or ``factory="mypkg.models:build"``).
Each trial calls it once to build the model it trains.

**What the factory receives.**  Keyword arguments, only those its signature declares (every one
of them when it takes ``**kwargs``):

* ``input_shape`` - one sample's shape (``(64,)`` for flat digits, ``(1, 8, 8)`` for images);
* ``num_outputs`` and ``num_classes`` - the width of the output layer (classes, or regression targets);
* every ``[model]`` key of the trial under its bare name: the base config's ``[model]`` values with
  the trial's sampled ``model.*`` parameters on top (``model.width`` -> ``width``, ``model.dropout``
  -> ``dropout``).  With a factory the ``[model]`` section is the factory's alone: any key may be set
  there or searched as ``model.<name>`` (``"model.channels" = [8, 16]``), as long as the factory
  declares it (or takes ``**kwargs``), and nothing is checked against the built-in models' keys;
* ``params`` - the trial's whole sampled dict (``{"optim.lr": ..., "model.width": ...}``).

A declared argument that gets no value keeps its default; one without a default is a config
error before the first trial.  The ``optim.*``, ``schedule.*`` and ``train.*`` keys configure the
training, not the model.  The factory returns the model initialised as it wants it (``[model]
init`` is not applied to it); the trial's seed (``[train] seed``) is set before the call, for
gradwise and PyTorch alike, so every trial starts from the same random stream.
"""
from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from gradwise.train.config import ConfigError

__all__ = ["load_factory", "factory_name", "factory_kwargs", "accepted_keys", "BUILT_IN_ARGS"]

#: Arguments every factory may declare besides the ``[model]`` keys.
BUILT_IN_ARGS = ("input_shape", "num_outputs", "num_classes", "params")


def _err(message: str) -> ConfigError:
    return ConfigError(f"config [model] factory: {message}")


def factory_name(spec: Any) -> str:
    """``"module:function"`` for a factory given as a string or an importable function."""
    if isinstance(spec, str):
        return spec
    return f"{getattr(spec, '__module__', '?')}:{getattr(spec, '__qualname__', type(spec).__name__)}"


def load_factory(spec: str | Callable[..., Any]) -> Callable[..., Any]:
    """The factory function named by ``"package.module:function"`` (imported now), or ``spec`` if callable."""
    if callable(spec):
        return spec
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise _err(f"{spec!r} is not 'module:function' (e.g. \"mypkg.models:build\")")
    module_name, attr = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise _err(f"{spec!r}: cannot import {module_name!r} ({err}); is it installed or on PYTHONPATH?") from None
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise _err(f"{spec!r}: module {module_name!r} has no {attr!r}")
    if not callable(obj):
        raise _err(f"{spec!r} is a {type(obj).__name__}, not a function")
    return obj


def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):   # a builtin without a signature: give it everything
        return inspect.Signature([inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)])


def accepted_keys(fn: Callable[..., Any]) -> set[str] | None:
    """The keyword names ``fn`` declares (None: it takes ``**kwargs``, so any name)."""
    params = _signature(fn).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                  inspect.Parameter.KEYWORD_ONLY)}


def factory_kwargs(fn: Callable[..., Any], offered: Mapping[str, Any], spec: Any = None) -> dict[str, Any]:
    """The subset of ``offered`` that ``fn`` declares; a ConfigError names a required argument left without value."""
    sig = _signature(fn)
    accepted = accepted_keys(fn)
    kwargs = dict(offered) if accepted is None else {k: v for k, v in offered.items() if k in accepted}
    missing = [p.name for p in sig.parameters.values()
               if p.default is inspect.Parameter.empty and p.name not in kwargs
               and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    if missing:
        raise _err(f"{factory_name(spec or fn)}: its argument(s) {', '.join(missing)} get no value; give them "
                   f"defaults, set them in [model] or search them as model.<name> (a factory also gets "
                   f"{', '.join(BUILT_IN_ARGS)})")
    return kwargs
