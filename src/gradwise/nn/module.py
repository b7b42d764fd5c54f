"""`Module`: the base class of layers and models, with PyTorch's registration and state API.

Assigning a `Parameter` or a `Module` as an attribute registers it, so `parameters()`,
`state_dict()`, `train()`/`eval()` and the hooks reach everything inside a model.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from typing import Any, Callable, Iterator

import numpy as np

from gradwise.nn.parameter import Buffer, Parameter
from gradwise.tensor import dtypes
from gradwise.tensor.function import Function
from gradwise.tensor.grad_mode import no_grad
from gradwise.tensor.tensor import Tensor, _check_device, _HookHandle

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class for all neural-network modules; subclasses define `forward`."""

    training: bool

    def __init__(self, *args, **kwargs) -> None:
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments; "
                            "did you forget to define __init__ in your Module subclass?")
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_backward_hooks", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    # ------------------------------------------------------------------ calling
    def __call__(self, *args, **kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        if self._backward_hooks:
            return self._call_with_backward_hooks(args, kwargs)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    def _call_with_backward_hooks(self, args, kwargs):
        """Wrap inputs and outputs in identity nodes that see grad_input and grad_output."""
        state: dict = {"grad_output": None}
        tensor_positions = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        args = list(args)
        if tensor_positions:
            wrapped = _BackwardHookInputs.apply(*(args[i] for i in tensor_positions), module=self, state=state)
            wrapped = wrapped if isinstance(wrapped, tuple) else (wrapped,)
            for i, t in zip(tensor_positions, wrapped):
                args[i] = t
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, tuple(args), out)
            if result is not None:
                out = result
        if isinstance(out, Tensor) and out.requires_grad:
            out = _BackwardHookOutput.apply(out, module=self, state=state, inputs_hooked=bool(tensor_positions))
        return out

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._drop(name, keep=params)
            params[name] = value
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._drop(name, keep=self._modules)
            self._modules[name] = value
        elif isinstance(value, Buffer):
            self._drop(name)
            self.register_buffer(name, value, persistent=value.persistent)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(gradwise.nn.Parameter or None expected)")
            params[name] = None
        elif params is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' (Tensor or None expected)")
            self._buffers[name] = value
        elif params is not None and name in self._modules and value is None:
            self._modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def _drop(self, name: str, keep: dict | None = None) -> None:
        """Forget ``name`` everywhere but in ``keep`` (a replaced child keeps its place, as in PyTorch)."""
        for store in (self.__dict__, self._parameters, self._buffers, self._modules):
            if store is not keep:
                store.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(gradwise.nn.Parameter or None required)")
        self._drop(name)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' (Tensor or None required)")
        self._drop(name)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: "Module | None") -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._drop(name)
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> "Module":
        module = self
        for part in target.split(".") if target else []:
            if part not in module._modules:
                raise AttributeError(f"{type(module).__name__} has no submodule '{part}' (looking up '{target}')")
            module = module._modules[part]
        return module

    def get_parameter(self, target: str) -> Parameter:
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if name not in module._parameters:
            raise AttributeError(f"{type(module).__name__} has no parameter '{name}' (looking up '{target}')")
        return module._parameters[name]

    # ------------------------------------------------------------------ traversal
    def named_modules(self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True):
        memo = set() if memo is None else memo
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate:
                if id(module) in memo:
                    continue
                memo.add(id(module))
            yield name, module
            children = [(name + ("." if name else "") + n, m) for n, m in module._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, store: str, prefix: str, recurse: bool, remove_duplicate: bool = True):
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, store).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True) -> "Module":
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if p._grad is None:
                continue
            if set_to_none:
                p._grad = None
            else:
                p._grad.detach_()
                p._grad.zero_()

    def apply(self, fn: Callable[["Module"], None]) -> "Module":
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ dtype / device
    def to(self, *args, **kwargs) -> "Module":
        dtype = kwargs.get("dtype")
        for a in list(args) + [kwargs.get("device")]:
            if isinstance(a, str):
                _check_device(a)
            elif isinstance(a, Tensor):
                dtype = a.dtype
            elif a is not None:
                dtype = a
        if dtype is not None:
            self._cast(dtypes.to_dtype(dtype))
        return self

    def _cast(self, dtype: np.dtype) -> None:
        for t in list(self.parameters()) + list(self.buffers()):
            if t._data.dtype.kind == "f" and t._data.dtype != dtype:
                t._data = t._data.astype(dtype)
                if t._grad is not None:
                    t._grad._data = t._grad._data.astype(dtype)

    def float(self) -> "Module":
        return self.to(dtypes.float32)

    def double(self) -> "Module":
        return self.to(dtypes.float64)

    def half(self) -> "Module":
        return self.to(dtypes.float16)

    def cpu(self) -> "Module":
        return self

    def cuda(self, device=None) -> "Module":
        _check_device("cuda")

    def type(self, dst_type) -> "Module":
        return self.to(dst_type)

    # ------------------------------------------------------------------ state
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False) -> "OrderedDict[str, Tensor]":
        """Parameters and persistent buffers by dotted name (tensors share the module's storage)."""
        out = OrderedDict() if destination is None else destination
        for name, module in self.named_modules(prefix=prefix.rstrip(".")):
            head = name + "." if name else ""
            for key, p in module._parameters.items():
                if p is not None:
                    out[head + key] = p if keep_vars else p.detach()
            for key, b in module._buffers.items():
                if b is not None and key not in module._non_persistent:
                    out[head + key] = b if keep_vars else b.detach()
        return out

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False) -> IncompatibleKeys:
        """Copy tensors into this module's parameters and buffers, checking names and shapes."""
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            array = value._data if isinstance(value, Tensor) else np.asarray(value)
            if array.shape != target._data.shape:
                errors.append(f"size mismatch for {key}: copying a param with shape {tuple(array.shape)} from "
                              f"checkpoint, the shape in current model is {tuple(target._data.shape)}.")
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        with no_grad():
            for key, target in own.items():
                if key in state_dict:
                    value = state_dict[key]
                    array = value._data if isinstance(value, Tensor) else np.asarray(value)
                    if assign:
                        target._data = np.array(array, dtype=target._data.dtype)
                    else:
                        np.copyto(target._data, array, casting="unsafe")
                        target._version.value += 1
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ hooks
    def register_forward_hook(self, hook: Callable) -> _HookHandle:
        """`hook(module, inputs, output)` runs after forward; a returned value replaces the output."""
        return _register(self._forward_hooks, hook)

    def register_forward_pre_hook(self, hook: Callable) -> _HookHandle:
        """`hook(module, inputs)` runs before forward; a returned value replaces the inputs."""
        return _register(self._forward_pre_hooks, hook)

    def register_full_backward_hook(self, hook: Callable) -> _HookHandle:
        """`hook(module, grad_input, grad_output)` runs when the module's input gradients are known."""
        return _register(self._backward_hooks, hook)

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        for name, module in self._modules.items():
            body = repr(module).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        if not lines:
            return f"{type(self).__name__}({extra})"
        head = f"{type(self).__name__}(" + (extra + "\n" if extra else "\n")
        return head + "".join("  " + line + "\n" for line in lines) + ")"

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._modules) | set(self._buffers))


class _DictHandle(_HookHandle):
    def __init__(self, hooks: OrderedDict, key: int) -> None:
        self.hooks_dict, self.key = hooks, key

    def remove(self) -> None:
        self.hooks_dict.pop(self.key, None)


_next_hook_id = [0]


def _register(hooks: OrderedDict, hook: Callable) -> _DictHandle:
    _next_hook_id[0] += 1
    hooks[_next_hook_id[0]] = hook
    return _DictHandle(hooks, _next_hook_id[0])


class _BackwardHookOutput(Function):
    """Identity on a module's output that records grad_output for the module's backward hooks."""

    def forward(self, out, module, state, inputs_hooked):
        self.module, self.state, self.inputs_hooked = module, state, inputs_hooked
        return out

    def backward(self, g):
        self.state["grad_output"] = (g,)
        if not self.inputs_hooked:
            for hook in list(self.module._backward_hooks.values()):
                hook(self.module, (None,), (g,))
        return g


class _BackwardHookInputs(Function):
    """Identity on a module's inputs; its backward sees grad_input and calls the hooks."""

    def forward(self, *inputs, module, state):
        self.module, self.state = module, state
        return inputs if len(inputs) > 1 else inputs[0]

    def backward(self, *grads):
        grad_input = tuple(grads)
        for hook in list(self.module._backward_hooks.values()):
            result = hook(self.module, grad_input, self.state["grad_output"])
            if result is not None:
                grad_input = tuple(result) if isinstance(result, (tuple, list)) else (result,)
        return grad_input if len(grad_input) > 1 else grad_input[0]
