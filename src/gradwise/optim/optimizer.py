"""`Optimizer`: the base of every solver in `gradwise.optim`.

An optimizer holds *parameter groups* (a list of dicts: ``{"params": [...], "lr": ..., ...}``,
each group with its own options, missing options taken from the constructor's ``defaults``)
and a per-parameter ``state`` dict (moment estimates, step counts, ...). ``step()`` reads each
parameter's ``.grad`` and updates the parameter in place.

The names, arguments and the ``state_dict()`` layout follow ``torch.optim.Optimizer``: the
saved state is keyed by integer parameter ids (the order of the parameters across the groups),
so a checkpoint saved from one model loads into a fresh copy of it, and a run saved after
``k`` steps and resumed matches an uninterrupted run bit for bit.

Speed: the updates work on the NumPy arrays behind the tensors (``p._data``, ``p._grad._data``
and the state tensors' arrays) with ``out=`` ufuncs, so no state array is allocated after the
first step. A large parameter is updated block of rows by block of rows (``_blocks``): the
intermediate results of a block live in a few small scratch arrays (kept outside ``state``,
never saved) that stay in the CPU cache, so each step streams the parameter, its gradient and
its state through memory about once, as a fused kernel would. Every in-place change of a
parameter bumps its version counter so that autograd's saved-tensor checks stay valid.

The shared arithmetic (maximize, weight decay, running averages, bias corrections) lives in
``_functional.py``; each optimizer has its own file with its update rule as pseudocode.
"""
from __future__ import annotations

import copy
import functools
import math
import numbers
import warnings
from collections import defaultdict
from itertools import chain
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from gradwise.tensor.grad_mode import enable_grad
from gradwise.tensor.tensor import Tensor

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]

# Element-wise updates run over blocks of about this many numbers (256 KiB of float32), small
# enough for the temporaries of a block to stay in a core's L2 cache.
BLOCK_SIZE = 1 << 16


@functools.lru_cache(maxsize=256)
def _block_slices(shape: tuple[int, ...]) -> tuple[slice, ...]:
    """Slices of the first axis cutting an array of ``shape`` into blocks of ~BLOCK_SIZE numbers."""
    size = int(np.prod(shape)) if shape else 1
    if not shape or size <= BLOCK_SIZE or shape[0] == 1:
        return (slice(None),)
    rows = max(1, BLOCK_SIZE // (size // shape[0]))
    return tuple(slice(start, start + rows) for start in range(0, shape[0], rows))


def _block_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of the largest block of an array of ``shape``."""
    first = _block_slices(shape)[0]
    if first == slice(None):
        return shape
    return (min(first.stop, shape[0]),) + shape[1:]


class _RequiredParameter:
    """Marks a constructor default that every param group must give explicitly."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _to_scalar(value: Any) -> Any:
    """A one-element Tensor (an lr or beta given as a tensor) as a Python number."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError("a Tensor hyper-parameter must have exactly one element")
        return value.item()
    return value


def _number(name: str, value: Any) -> Any:
    """`value` as a number; anything else (a string read from a config file, None) raises
    PyTorch's TypeError (its comparison `lr < 0.0` fails), saying which hyper-parameter it was."""
    value = _to_scalar(value)
    if not isinstance(value, numbers.Real):
        raise TypeError(f"'<' not supported between instances of '{type(value).__name__}' and 'float' ({name} must "
                        f"be a number or a 1-element Tensor, got {value!r}; convert it with float())")
    return value


def _copy_value(value: Any) -> Any:
    """Deep copy of a state value: tensors get their own array, containers are rebuilt."""
    if isinstance(value, Tensor):
        return Tensor._make(np.array(value._data, copy=True))
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: _copy_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_copy_value(v) for v in value)
    return copy.deepcopy(value)


def _cast_state_value(param: Tensor, key: Any, value: Any) -> Any:
    """Copy a loaded state value, casting floating tensors to the parameter's dtype.

    The step counter and the other scalar state (NAdam's ``mu_product``, ASGD's ``eta`` and
    ``mu``, float32 in PyTorch too) keep their dtype, so that a resumed run rounds exactly as
    an uninterrupted one. (PyTorch casts those scalars to the parameter's dtype on load.)
    """
    if isinstance(value, Tensor):
        array = np.array(value._data, copy=True)
        if (key != "step" and array.ndim > 0 and array.dtype.kind == "f"
                and param._data.dtype.kind == "f"):
            array = array.astype(param._data.dtype, copy=False)
        return Tensor._make(array)
    if isinstance(value, dict):
        return {k: _cast_state_value(param, k, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast_state_value(param, None, v) for v in value)
    return copy.deepcopy(value)


class Optimizer:
    """Base class of all optimizers (PyTorch's ``torch.optim.Optimizer``).

    Args:
        params: an iterable of Tensors, of ``(name, Tensor)`` pairs, or of dicts defining
            parameter groups (each with a ``"params"`` entry and optional per-group options).
        defaults: the default value of every option, used where a group does not set it.

    The training loop is PyTorch's::

        optimizer = gradwise.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for x, y in loader:
            optimizer.zero_grad()          # forget the previous batch's gradients
            loss_fn(model(x), y).backward()
            optimizer.step()               # update every parameter from its .grad

    Per-group options: ``SGD([{"params": body.parameters()}, {"params": head.parameters(),
    "lr": 1e-2}], lr=1e-3)`` trains the head ten times faster than the body.

    Subclasses implement ``step(closure=None)``; ``_check_*`` helpers give the
    hyper-parameter validation messages shared by all optimizers.
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._scratch_arrays: dict[Any, list[np.ndarray]] = {}
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {type(params).__name__}")
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __init_subclass__(cls, **kwargs) -> None:
        """Wrap every subclass's ``step`` so that it counts calls (used by the lr schedulers
        to warn when ``scheduler.step()`` is called before ``optimizer.step()``)."""
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_counts_calls", False):
            @functools.wraps(step)
            def counted_step(self, *args, **kwargs):
                self._opt_called = True
                return step(self, *args, **kwargs)

            counted_step._counts_calls = True
            cls.step = counted_step

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (e.g. a layer unfrozen while
        fine-tuning). Options it does not set come from ``defaults``.

        Raises:
            TypeError: the group is not a dict, or holds something other than Tensors.
            ValueError: a non-leaf tensor, a missing required option, or a parameter
                that is already in another group.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        else:
            params = list(params)

        tensors, names = [], []
        for item in params:
            if isinstance(item, tuple):
                names.append(item[0])
                tensors.append(item[1])
            else:
                tensors.append(item)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            param_group["param_names"] = names

        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not (p.is_leaf or p._retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)

        ids = [id(p) for p in tensors]
        if len(ids) != len(set(ids)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; each copy would be "
                          "updated once per step, which is almost certainly a bug", UserWarning, stacklevel=3)

        seen: set[int] = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {which} to the optimizer")
        if not seen.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ------------------------------------------------------------------ gradients
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized tensors.

        With ``set_to_none=True`` (the default) ``.grad`` becomes None: less memory, and a
        parameter that gets no gradient in the next backward pass is skipped by ``step()``
        instead of being updated with a zero gradient.
        """
        for group in self.param_groups:
            for p in group["params"]:
                grad = p._grad
                if grad is None:
                    continue
                if set_to_none:
                    p._grad = None
                else:
                    if grad.grad_fn is not None:
                        grad.detach_()
                    else:
                        grad.requires_grad = False
                    grad.zero_()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step; ``closure`` re-evaluates the model and returns the loss."""
        raise NotImplementedError

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state as ``{"state": {id: {...}}, "param_groups": [{..., "params": [ids]}]}``.

        Parameter ids are the positions of the parameters across the groups, in order, as in
        PyTorch. The tensors are copies: the dict is a checkpoint that later steps leave alone.
        """
        mapping: dict[int, int] = {}
        start = 0

        def pack_group(group: dict[str, Any]) -> dict[str, Any]:
            nonlocal start
            packed = {k: v for k, v in group.items() if k != "params"}
            mapping.update({id(p): i for i, p in enumerate(group["params"], start) if id(p) not in mapping})
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        param_groups = [pack_group(g) for g in self.param_groups]
        packed_state = {(mapping[id(k)] if isinstance(k, Tensor) else k): _copy_value(v)
                        for k, v in self.state.items()}
        return {"state": packed_state, "param_groups": param_groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a ``state_dict()``: the groups must match this optimizer's in number and size.

        Tensors are copied (and floating ones cast to their parameter's dtype), so the loaded
        optimizer shares nothing with the dict.
        """
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))
        state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key in id_map:
                param = id_map[key]
                state[param] = _cast_state_value(param, None, value)
            else:
                state[key] = _copy_value(value)

        new_groups = []
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            new_groups.append(saved)
        self.state = state
        self.param_groups = new_groups
        self._scratch_arrays = {}
        self._after_load()

    def _after_load(self) -> None:
        """Hook for subclasses that keep derived attributes in sync with the loaded state."""

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._scratch_arrays = {}
        self._after_load()

    def __repr__(self) -> str:
        text = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"

    # ------------------------------------------------------------------ helpers for subclasses
    @staticmethod
    def _closure_loss(closure: Callable[[], Any] | None) -> Any:
        """Run the closure with graph recording on (it calls backward) and return its loss."""
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _scratch(self, p: Tensor, count: int, dtype: Any = None) -> list[np.ndarray]:
        """``count`` work arrays for ``p``'s update, each the shape of one block of ``p`` (see
        ``_blocks``) and of ``p``'s dtype unless ``dtype`` is given; allocated on first use and
        reused every step. They are not part of the saved state."""
        key = p if dtype is None else (p, np.dtype(dtype).str)
        arrays = self._scratch_arrays.get(key)
        if arrays is None:
            arrays = self._scratch_arrays[key] = []
        if len(arrays) < count:
            shape = _block_shape(p._data.shape)
            while len(arrays) < count:
                arrays.append(np.empty(shape, dtype=p._data.dtype if dtype is None else dtype))
        return arrays

    def _blocks(self, p: Tensor, *arrays: np.ndarray, scratch: int = 0,
                masks: int = 0) -> Iterator[tuple[np.ndarray, ...]]:
        """Views of ``arrays`` (all shaped like ``p``), block of rows by block of rows, followed
        by ``scratch`` work arrays of ``p``'s dtype and ``masks`` boolean ones for the block.

        An element-wise update run block by block keeps its intermediate results in the CPU
        cache, so a large parameter is read and written from memory about once per step (as
        a fused kernel would) instead of once per NumPy operation. Small parameters are one
        block.
        """
        work = self._scratch(p, scratch)[:scratch]
        if masks:
            work = work + self._scratch(p, masks, bool)[:masks]
        slices = _block_slices(p._data.shape)
        if len(slices) == 1:
            yield (*arrays, *work)
            return
        for block in slices:
            rows = min(block.stop, p._data.shape[0]) - block.start
            yield (*(a[block] for a in arrays), *(w[:rows] for w in work))

    def _dense_grad(self, p: Tensor) -> np.ndarray:
        """The array of ``p``'s dense gradient; a sparse one is refused with PyTorch's message."""
        grad = p._grad
        if grad.is_sparse:
            name = type(self).__name__
            hint = ", please consider SparseAdam instead" if name in ("Adam", "AdamW") else ""
            raise RuntimeError(f"{name} does not support sparse gradients{hint}")
        return grad._data

    @staticmethod
    def _new_step() -> Tensor:
        """The per-parameter step counter: a float32 scalar tensor, as PyTorch stores it."""
        return Tensor._make(np.zeros((), dtype=np.float32))

    @staticmethod
    def _advance(step_t: Tensor) -> float:
        """Add one to a step counter in place and return the new count."""
        step_t._data += 1
        return float(step_t._data)

    @staticmethod
    def _zeros_like(p: Tensor) -> Tensor:
        return Tensor._make(np.zeros_like(p._data))

    # ------------------------------------------------------------------ validation
    # PyTorch's messages ("Invalid learning rate: -1.0") followed by the valid range.  Where PyTorch lets an
    # impossible value through (an infinite or NaN learning rate, SGD momentum 1.5) it is refused here too:
    # such a run can only diverge, and it is better told at construction than at the first NaN.
    @staticmethod
    def _check_lr(lr: Any, strict: bool = False) -> None:
        lr = _number("lr", lr)
        if not 0.0 <= lr < math.inf or (strict and lr == 0.0):
            bound = "> 0" if strict else ">= 0"
            raise ValueError(f"Invalid learning rate: {lr} (the learning rate must be a finite number {bound})")

    @staticmethod
    def _check_eps(eps: float, strict: bool = False) -> None:
        eps = _number("eps", eps)
        if not 0.0 <= eps < math.inf or (strict and eps == 0.0):
            bound = "> 0" if strict else ">= 0"
            raise ValueError(f"Invalid epsilon value: {eps} (eps must be a finite number {bound})")

    @staticmethod
    def _check_betas(betas: tuple[float, float]) -> None:
        for index, beta in enumerate(betas):
            beta = _number(f"betas[{index}]", beta)
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {index}: {beta} (each beta must be in [0, 1))")

    @staticmethod
    def _check_non_negative(name: str, value: float) -> None:
        value = _number(name, value)
        if not 0.0 <= value < math.inf:
            raise ValueError(f"Invalid {name} value: {value} ({name} must be a finite number >= 0)")

    @staticmethod
    def _check_fraction(name: str, value: float, closed: bool = False) -> None:
        """``value`` in [0, 1) - or [0, 1] when ``closed`` - e.g. a momentum coefficient: at 1 or above the
        velocity never decays and the steps grow without bound."""
        value = _number(name, value)
        if not (0.0 <= value <= 1.0 if closed else 0.0 <= value < 1.0):
            raise ValueError(f"Invalid {name} value: {value} ({name} must be in [0, 1{']' if closed else ')'})")
