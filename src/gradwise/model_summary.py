"""``gradwise.summary(model, input_size=...)``: torchinfo's model summary, for gradwise and PyTorch models.

One forward pass on a made-up batch (random floats; zeros for integer inputs such as token ids),
with a pre-hook and a forward hook on every module, gives one row per module call: the layer in its
place in the hierarchy, its output shape, its parameters, whether they train, and its multiply-adds;
then the totals and an estimate of the memory one batch needs (input, the outputs of the layers with
weights kept for the backward pass, counted twice for their gradients, and the parameters) - the
numbers and the table torchinfo prints, so that a PyTorch user reads it as they are used to.  The model's
modes (train/eval per module) are put back afterwards; no gradient is recorded.

Multiply-adds follow torchinfo's conventions (every count includes the batch): a convolution (1d/2d,
transposed) counts ``parameters x batch x output positions``, a normalization layer
(BatchNorm/LayerNorm/GroupNorm) ``batch x parameters``, a recurrent layer ``batch x steps x parameters``,
layers without weights (activations, pooling, dropout, flatten) nothing.  Where torchinfo 1.8.0 is off,
gradwise says so and counts right:

* ``Linear`` counts every row of its input (``parameters x prod(output.shape[:-1])``; torchinfo 1.8.0
  counts only the batch dimension, fixed upstream in torchinfo PR #318);
* ``Embedding`` counts 0 (a lookup multiplies nothing; torchinfo counts ``batch x parameters``);
* the parameter memory includes the parameters a container owns itself, and the mult-adds unit reads
  ``(M)``/``(G)``/``(T)`` (torchinfo 1.8.0 on Python >= 3.11 prints ``(Units.MEGABYTES)``).
"""
from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["summary", "ModelStatistics", "LayerInfo"]

COLUMNS = ("input_size", "output_size", "kernel_size", "num_params", "params_percent", "mult_adds", "trainable")
ROW_SETTINGS = ("depth", "var_names", "ascii_only", "hide_recursive_layers")
HEADER_TITLES = {"kernel_size": "Kernel Shape", "input_size": "Input Shape", "output_size": "Output Shape",
                 "num_params": "Param #", "params_percent": "Param %", "mult_adds": "Mult-Adds",
                 "trainable": "Trainable"}


def _prod(values: Iterable[Any]) -> int:
    result = 1
    for v in values:
        result *= _prod(v) if isinstance(v, (list, tuple)) else int(v)
    return result


def _is_array(x: Any) -> bool:
    """A tensor of either framework or a NumPy array (something with a shape and an element size)."""
    return isinstance(x, np.ndarray) or (hasattr(x, "shape") and callable(getattr(x, "element_size", None)))


def _itemsize(x: Any) -> int:
    return int(x.itemsize) if isinstance(x, np.ndarray) else int(x.element_size())


def _nested_size(value: Any) -> tuple[list[int], int]:
    """Shape and element size of the first tensor in a (nested) output, as torchinfo takes it."""
    if hasattr(value, "tensors") and not _is_array(value):
        return _nested_size(value.tensors)
    if _is_array(value):
        return [int(s) for s in value.shape], _itemsize(value)
    if isinstance(value, Mapping):
        return _nested_size(list(value.values())) if value else ([], 0)
    if isinstance(value, (list, tuple)) and value:
        return _nested_size(value[0])
    return [], 0


def _value_size(value: Any, batch_dim: int | None) -> tuple[list[int], int]:
    """torchinfo's ``calculate_size``: the shape shown for a layer's inputs or outputs, and its element size."""
    if value is None:
        return [], 0
    if isinstance(value, (list, tuple)) and value and hasattr(value[0], "data") and _is_array(
            getattr(value[0], "data", None)) and not _is_array(value[0]):   # a packed sequence
        size, elem = [int(s) for s in value[0].data.shape], _itemsize(value[0].data)
        if batch_dim is not None:
            size = size[:batch_dim] + [1] + size[batch_dim + 1:]
        return size, elem
    if isinstance(value, Mapping):
        size, elem = _nested_size(list(value.values())[-1]) if value else ([], 0)
        if batch_dim is not None and size:
            size = size[:batch_dim] + [1] + size[batch_dim + 1:]
        return size, elem
    if _is_array(value):
        return [int(s) for s in value.shape], _itemsize(value)
    if isinstance(value, (list, tuple)):
        size, elem = _nested_size(value)
        if batch_dim is not None and batch_dim < len(size):
            size[batch_dim] = 1
        return size, elem
    return [], 0     # a number, a string, a custom object: nothing to measure


def _numel(p: Any) -> int:
    n = p.numel
    return int(n() if callable(n) else n)


class LayerInfo:
    """One row of the summary: one call of one module (a module called twice gives two rows)."""

    def __init__(self, var_name: str, module: Any, depth: int, parent_info: LayerInfo | None = None) -> None:
        self.layer_id = id(module)
        self.module = module
        self.class_name = type(module).__name__
        self.var_name = var_name
        self.depth = depth
        self.depth_index: int | None = None
        self.parent_info = parent_info
        self.children: list[LayerInfo] = []
        self.executed = False
        self.is_leaf_layer = not any(True for _ in module.children())
        self.is_recursive = False
        self.input_size: list[int] = []
        self.output_size: list[int] = []
        self.kernel_size = _kernel_size(module)
        self.num_params = 0
        self.trainable_params = 0
        self.param_bytes = 0
        self.output_bytes = 0
        self.macs = 0
        self.inner_layers: dict[str, dict[str, str]] = {}

    def __repr__(self) -> str:
        return f"{self.class_name}: {self.depth}"

    @property
    def trainable(self) -> str:
        """``"True"``, ``"False"``, ``"Partial"`` (some parameters frozen) or ``"--"`` (no parameters)."""
        if self.num_params == 0:
            return "--"
        if self.trainable_params == 0:
            return "False"
        return "True" if self.num_params == self.trainable_params else "Partial"

    def calculate_num_params(self) -> None:
        """Parameter count, trainable count and bytes of the module (its children's included)."""
        self.num_params = self.trainable_params = self.param_bytes = 0
        self.inner_layers = {}
        final = ""
        for name, p in self.module.named_parameters():
            n = _numel(p)
            self.num_params += n
            self.param_bytes += n * _itemsize(p)
            if p.requires_grad:
                self.trainable_params += n
            shape = [int(s) for s in p.shape]
            if name == "weight" and len(shape) > 1:   # torchinfo shows [in, out, k, k]
                shape[0], shape[1] = shape[1], shape[0]
            if self.parent_info is not None or "." not in name:
                self.inner_layers[name] = {"kernel_size": str(shape), "num_params": f"├─{n:,}"}
                final = name
        if self.inner_layers:
            self.inner_layers[final]["num_params"] = "└─" + self.inner_layers[final]["num_params"][2:]

    def calculate_macs(self) -> None:
        """Multiply-adds of this call for the whole batch (see the module docstring for the conventions)."""
        self.macs = 0
        out = self.output_size
        if not out or "Embedding" in self.class_name:
            return
        for name, p in self.module.named_parameters():
            n = _numel(p)
            if name in ("weight", "bias"):
                if "Conv" in self.class_name:
                    self.macs += n * _prod(out[:1] + out[2:])
                elif "Linear" in self.class_name:
                    self.macs += n * _prod(out[:-1])
                else:
                    self.macs += out[0] * n
            elif "weight" in name or "bias" in name:   # recurrent layers: weight_ih_l0, ...
                self.macs += _prod(out[:2]) * n

    def leftover_params(self) -> int:
        """Parameters of this module that no shown child accounts for (a container's own parameters)."""
        return self.num_params - sum(c.num_params if c.is_leaf_layer else c.leftover_params()
                                     for c in self.children if not c.is_recursive)

    def leftover_trainable_params(self) -> int:
        return self.trainable_params - sum(c.trainable_params if c.is_leaf_layer else c.leftover_trainable_params()
                                           for c in self.children if not c.is_recursive)

    def leftover_param_bytes(self) -> int:
        return self.param_bytes - sum(c.param_bytes if c.is_leaf_layer else c.leftover_param_bytes()
                                      for c in self.children if not c.is_recursive)

    def layer_name(self, show_var_name: bool, show_depth: bool) -> str:
        name = self.class_name
        if show_var_name and self.var_name:
            name += f" ({self.var_name})"
        if show_depth and self.depth > 0:
            name += f": {self.depth}"
            if self.depth_index is not None:
                name += f"-{self.depth_index}"
        return name

    def macs_to_str(self, reached_max_depth: bool) -> str:
        if self.macs <= 0 and not (reached_max_depth and not self.is_leaf_layer):
            return "--"
        if self.is_leaf_layer:
            return f"{self.macs:,}"
        if reached_max_depth:
            total = sum(c.macs for c in self.children if c.is_leaf_layer)
            return f"{total:,}" if total > 0 else "--"
        return "--"

    def num_params_to_str(self, reached_max_depth: bool) -> str:
        if self.num_params == 0:
            return "--"
        if self.is_recursive:
            return "(recursive)"
        if reached_max_depth or self.is_leaf_layer:
            text = f"{self.num_params:,}"
            return text if self.trainable_params else f"({text})"
        left = self.leftover_params()
        return f"{left:,}" if left > 0 else "--"

    def params_percent(self, total_params: int, reached_max_depth: bool) -> str:
        zero = "     --"
        if total_params == 0:
            return zero
        if self.is_recursive:
            return "(recursive)"
        params = self.num_params if reached_max_depth or self.is_leaf_layer else self.leftover_params()
        return zero if params == 0 else f"{params / total_params:>7.2%}"


def _kernel_size(module: Any) -> int | list[int] | None:
    k = getattr(module, "kernel_size", None)
    if k is None:
        return None
    return [int(v) for v in k] if isinstance(k, Iterable) else int(k)


class ModelStatistics:
    """What :func:`summary` found: the rows (:attr:`summary_list`), the totals and the memory estimate.

    ``str()`` (and ``repr()``, for notebooks) is torchinfo's table; :meth:`short` is one line and
    :meth:`to_dict` the numbers as plain Python values.
    """

    def __init__(self, summary_list: list[LayerInfo], input_size: Any, total_input: int, *, depth: int = 3,
                 verbose: int = 1, col_names: Sequence[str] = (), col_width: int = 25,
                 row_settings: Sequence[str] = ("depth",), model_name: str = "", batch_dim: int | None = None) -> None:
        self.summary_list = summary_list
        self.input_size = input_size
        self.total_input = int(total_input)
        self.model_name = model_name
        self.batch_dim = batch_dim
        self.max_depth, self.verbose, self.col_names, self.col_width = depth, verbose, tuple(col_names), col_width
        self.row_settings = set(row_settings)
        self.total_mult_adds = self.total_params = self.trainable_params = 0
        self.total_param_bytes = self.total_output_bytes = 0
        for info in summary_list:
            if info.is_leaf_layer:
                self.total_mult_adds += info.macs
                if info.num_params > 0:
                    self.total_output_bytes += info.output_bytes * 2   # the output and its gradient
                if info.is_recursive:
                    continue
                self.total_params += max(info.num_params, 0)
                self.trainable_params += max(info.trainable_params, 0)
                self.total_param_bytes += info.param_bytes
            elif not info.is_recursive:
                self.total_params += max(info.leftover_params(), 0)
                self.trainable_params += max(info.leftover_trainable_params(), 0)
                self.total_param_bytes += max(info.leftover_param_bytes(), 0)
        self.layer_name_width = 40
        for info in summary_list:
            title = info.layer_name("var_names" in self.row_settings, "depth" in self.row_settings)
            width = len(title) + info.depth * 5 + 1
            if width >= self.layer_name_width:
                self.layer_name_width = max(self.layer_name_width, math.ceil(width / 5) * 5)

    # ------------------------------------------------------------------ numbers
    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    @property
    def input_mb(self) -> float:
        return self.total_input / 1e6

    @property
    def forward_backward_mb(self) -> float:
        return self.total_output_bytes / 1e6

    @property
    def params_mb(self) -> float:
        return self.total_param_bytes / 1e6

    @property
    def total_mb(self) -> float:
        return (self.total_input + self.total_output_bytes + self.total_param_bytes) / 1e6

    def to_dict(self) -> dict[str, Any]:
        """The totals, the memory estimate (bytes) and one dict per row."""
        return {"total_params": self.total_params, "trainable_params": self.trainable_params,
                "non_trainable_params": self.non_trainable_params, "total_mult_adds": self.total_mult_adds,
                "input_bytes": self.total_input, "forward_backward_bytes": self.total_output_bytes,
                "params_bytes": self.total_param_bytes,
                "total_bytes": self.total_input + self.total_output_bytes + self.total_param_bytes,
                "layers": [{"name": i.layer_name(True, True), "class": i.class_name, "var_name": i.var_name,
                            "depth": i.depth, "input_size": i.input_size, "output_size": i.output_size,
                            "num_params": i.num_params, "trainable_params": i.trainable_params, "macs": i.macs,
                            "trainable": i.trainable, "recursive": i.is_recursive}
                           for i in self.summary_list]}

    def short(self) -> str:
        """One line: parameters (trainable) and multiply-adds of one forward pass (per sample with ``batch_dim``)."""
        text = f"{self.total_params:,} parameters ({self.trainable_params:,} trainable)"
        if self.input_size:
            shapes = self.input_size if isinstance(self.input_size, list) else [self.input_size]
            shown = ", ".join(str(list(s)) if isinstance(s, (tuple, list)) else str(s) for s in shapes)
            where = f"per sample of shape {shown}" if self.batch_dim is not None else f"for an input of shape {shown}"
            text += f", {_readable(self.total_mult_adds)} mult-adds {where}"
        return text

    # ------------------------------------------------------------------ table
    def _row(self, name: str, values: Mapping[str, str]) -> str:
        line = f"{name:<{self.layer_name_width}} "
        for col in self.col_names:
            line += f"{values.get(col, ''):<{self.col_width}} "
        return line.rstrip() + "\n"

    def _start(self, depth: int) -> str:
        ascii_only = "ascii_only" in self.row_settings
        if depth == 0:
            return ""
        if depth == 1:
            return "+ " if ascii_only else "├─"
        return ("|    " if ascii_only else "│    ") * (depth - 1) + ("+ " if ascii_only else "└─")

    def _layers(self) -> str:
        text = ""
        show_var, show_depth = "var_names" in self.row_settings, "depth" in self.row_settings
        for info in self.summary_list:
            if info.depth > self.max_depth or ("hide_recursive_layers" in self.row_settings and info.is_recursive):
                continue
            reached = info.depth == self.max_depth
            values = {"kernel_size": _str(info.kernel_size), "input_size": _str(info.input_size),
                      "output_size": _str(info.output_size), "num_params": info.num_params_to_str(reached),
                      "params_percent": info.params_percent(self.total_params, reached),
                      "mult_adds": info.macs_to_str(reached), "trainable": _str(info.trainable)}
            text += self._row(self._start(info.depth) + info.layer_name(show_var, show_depth), values)
            if self.verbose >= 2:
                for inner, inner_values in info.inner_layers.items():
                    text += self._row(self._start(info.depth + 1) + inner, inner_values)
        return text

    def __str__(self) -> str:
        width = len(self.col_names) * self.col_width + self.layer_name_width
        divider = "=" * width
        header = "Layer (type" + (" (var_name)" if "var_names" in self.row_settings else "") + \
            (":depth-idx" if "depth" in self.row_settings else "") + ")"
        text = (f"{divider}\n{self._row(header, HEADER_TITLES)}{divider}\n{self._layers()}{divider}\n"
                f"Total params: {self.total_params:,}\n"
                f"Trainable params: {self.trainable_params:,}\n"
                f"Non-trainable params: {self.non_trainable_params:,}\n")
        if self.input_size:
            unit, value = _units(self.total_mult_adds)
            text += (f"Total mult-adds ({unit}): {_num(value)}\n{divider}\n"
                     f"Input size (MB): {self.input_mb:0.2f}\n"
                     f"Forward/backward pass size (MB): {self.forward_backward_mb:0.2f}\n"
                     f"Params size (MB): {self.params_mb:0.2f}\n"
                     f"Estimated Total Size (MB): {self.total_mb:0.2f}\n")
        return text + divider

    __repr__ = __str__


def _str(value: Any) -> str:
    return str(value) if value else "--"


def _units(num: int) -> tuple[str, float]:
    if num >= 1e12:
        return "T", num / 1e12
    if num >= 1e9:
        return "G", num / 1e9
    return "M", num / 1e6


def _num(value: float) -> str:
    return f"{int(value):,d}" if float(value).is_integer() else f"{value:,.2f}"


def _readable(num: int) -> str:
    if num < 1e6:
        return f"{num:,}"
    unit, value = _units(num)
    return f"{value:,.2f} {unit}"


# ---------------------------------------------------------------------- the forward pass
def _input_sizes(input_size: Any) -> list[tuple[int, ...]]:
    """torchinfo's input_size forms: ``(N, C, H, W)``, ``[N, C, H, W]``, or a list/tuple of such shapes."""
    if not isinstance(input_size, (list, tuple)):
        raise TypeError(f"summary: input_size must be a shape such as (64, 1, 28, 28) or a list of shapes, "
                        f"got {type(input_size).__name__}")

    def flat(items: Any) -> Iterable[Any]:
        for item in items:
            yield from flat(item) if isinstance(item, (list, tuple)) else (item,)

    values = list(flat(input_size))
    if not values or any(not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0 for v in values):
        raise ValueError(f"summary: input_size must hold positive integers, got {input_size!r}")
    if all(not isinstance(v, (list, tuple)) for v in input_size):
        return [tuple(int(v) for v in input_size)]
    return [tuple(int(v) for v in shape) for shape in input_size]


def _numpy_dtype(dtype: Any) -> tuple[np.dtype, Any]:
    """A NumPy dtype to make the array with, and the framework dtype to cast it to (or None)."""
    if dtype is None:
        return np.dtype(np.float32), None
    if type(dtype).__module__ == "torch":
        name = str(dtype).replace("torch.", "")
        try:
            return np.dtype(name), None
        except TypeError:        # bfloat16 and friends: make float32, let the framework cast
            return np.dtype(np.float32), dtype
    from gradwise.tensor.dtypes import to_dtype

    return to_dtype(dtype), None


def _make_inputs(engine: Any, sizes: list[tuple[int, ...]], dtypes: Sequence[Any] | None, batch_dim: int | None,
                 default: np.dtype) -> list[Any]:
    if dtypes is not None and len(dtypes) != len(sizes):
        raise ValueError(f"summary: {len(sizes)} input shape(s) but {len(dtypes)} dtype(s)")
    rng = np.random.default_rng(0)     # not the user's random stream
    inputs = []
    for i, shape in enumerate(sizes):
        if batch_dim is not None:
            shape = shape[:batch_dim] + (1,) + shape[batch_dim:]
        dtype, cast = _numpy_dtype(dtypes[i]) if dtypes is not None else (default, None)
        array = rng.random(shape).astype(dtype) if dtype.kind == "f" else np.zeros(shape, dtype=dtype)
        inputs.append(engine.as_input(array, cast) if cast is not None else engine.as_input(array))
    return inputs


def _input_bytes(data: Any) -> int:
    if _is_array(data):
        return _prod(data.shape) * _itemsize(data)
    if isinstance(data, Mapping):
        return sum(_input_bytes(v) for v in data.values())
    if isinstance(data, (list, tuple)):
        return sum(_input_bytes(v) for v in data)
    return 0


def _to_engine(engine: Any, data: Any) -> Any:
    if _is_array(data):
        return data if engine.is_tensor(data) else engine.as_input(data)
    if isinstance(data, Mapping):
        return {k: _to_engine(engine, v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(_to_engine(engine, v) for v in data))
    if isinstance(data, (list, tuple)):
        return type(data)(_to_engine(engine, v) for v in data)
    return data


def _shapes(data: Any) -> Any:
    if _is_array(data):
        return tuple(int(s) for s in data.shape)
    if isinstance(data, Mapping):
        return {k: _shapes(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_shapes(v) for v in data]
    return data


def _set_children(summary_list: list[LayerInfo]) -> None:
    counters: dict[int, int] = {}
    for i, layer in enumerate(summary_list):
        counters[layer.depth] = counters.get(layer.depth, 0) + 1
        layer.depth_index = counters[layer.depth]
        children = []
        for other in summary_list[i + 1:]:
            if other.depth <= layer.depth:
                break
            children.append(other)
        layer.children = children


def _add_missing_containers(summary_list: list[LayerInfo]) -> None:
    """Rows for containers that were never called themselves (a ModuleList iterated in forward)."""
    layer_ids = {layer.layer_id for layer in summary_list}
    current: dict[int, LayerInfo] = {}
    idx = 0
    while idx < len(summary_list):
        info = summary_list[idx]
        hierarchy = {}
        parent = info.parent_info
        while parent is not None and parent.depth > 0:
            hierarchy[parent.depth] = parent
            parent = parent.parent_info
        inserted = 0
        for d in range(1, info.depth):
            if (d not in current or current[d].module is not hierarchy[d].module) \
                    and hierarchy[d] is not summary_list[idx + inserted - 1]:
                hierarchy[d].calculate_num_params()
                hierarchy[d].is_recursive = hierarchy[d].layer_id in layer_ids
                summary_list.insert(idx + inserted, hierarchy[d])
                layer_ids.add(hierarchy[d].layer_id)
                current[d] = hierarchy[d]
                inserted += 1
        current[info.depth] = info
        d = info.depth + 1
        while d in current:
            current.pop(d)
            d += 1
        idx += inserted + 1


def summary(model: Any, input_size: Any = None, input_data: Any = None, batch_dim: int | None = None,
            col_names: Iterable[str] | None = None, col_width: int = 25, depth: int = 3, device: Any = None,
            dtypes: Sequence[Any] | None = None, mode: str | None = None, row_settings: Iterable[str] | None = None,
            verbose: int | None = None, **kwargs: Any) -> ModelStatistics:
    """torchinfo's ``summary`` for a gradwise or PyTorch model: prints the table (``verbose``) and returns it.

    ``input_size`` is the input's shape with the batch (``(64, 1, 28, 28)``), or a list of shapes for
    several inputs; ``dtypes`` their dtypes (default: the model's float dtype; integer inputs are zeros);
    with ``batch_dim`` the shapes leave the batch out and a batch of 1 is inserted there.  Or pass
    ``input_data`` (a tensor/array, a list of them, or a dict of keyword arguments).  Without either, only
    the parameters are listed.  ``col_names`` from ``input_size``, ``output_size``, ``kernel_size``,
    ``num_params``, ``params_percent``, ``mult_adds``, ``trainable`` (default: output shape, parameters,
    trainable, mult-adds); ``depth`` the deepest level shown; ``mode`` ``"eval"`` (default) or ``"train"``
    for the pass; ``verbose`` 0 (quiet), 1 (the table; the default outside interactive sessions), 2 (and
    every weight and bias); ``row_settings`` from ``depth``, ``var_names``, ``ascii_only``,
    ``hide_recursive_layers``; other keyword arguments go to ``model.forward``.
    """
    from gradwise.engines import engine_for, engine_of

    if input_size is not None and input_data is not None:
        raise ValueError("summary: pass input_size or input_data, not both")
    has_input = input_size is not None or input_data is not None
    if col_names is None:
        columns = ("output_size", "num_params", "trainable", "mult_adds") if has_input else ("num_params", "trainable")
    else:
        columns = tuple(str(c) for c in col_names)
        unknown = [c for c in columns if c not in COLUMNS]
        if unknown:
            raise ValueError(f"summary: unknown column(s) {unknown}; choose from {list(COLUMNS)}")
        needs = {"input_size", "output_size", "mult_adds"} & set(columns)
        if needs and not has_input:
            raise ValueError(f"summary: the column(s) {sorted(needs)} need input_size or input_data")
    rows = ("depth",) if row_settings is None else tuple(str(r) for r in row_settings)
    bad_rows = [r for r in rows if r not in ROW_SETTINGS]
    if bad_rows:
        raise ValueError(f"summary: unknown row setting(s) {bad_rows}; choose from {list(ROW_SETTINGS)}")
    if col_width <= 0:
        raise ValueError(f"summary: col_width must be positive, got {col_width}")
    if verbose is None:
        verbose = 0 if getattr(sys, "ps1", None) else 1
    if verbose not in (0, 1, 2):
        raise ValueError("summary: verbose must be 0 (quiet), 1 (the table) or 2 (with every weight and bias)")
    mode = "eval" if mode is None else mode
    if mode not in ("eval", "train"):
        raise ValueError(f"summary: mode must be 'eval' or 'train', got {mode!r}")

    if device is None and engine_of(model) == "torch":   # keep the model where it is; inputs go there too
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else None
        engine = engine_for(model, device)
    else:
        engine = engine_for(model, device)
        if device is not None:
            model = engine.to_device(model)

    x: Any = None
    shown_size: Any = []
    if input_size is not None:
        sizes = _input_sizes(input_size)
        x = _make_inputs(engine, sizes, dtypes, batch_dim, engine.float_dtype(model))
        shown_size = list(sizes)
    elif input_data is not None:
        shown_size = _shapes(input_data)
        x = _to_engine(engine, input_data)
        if _is_array(x):
            x = [x]
    kwargs = _to_engine(engine, kwargs)

    summary_list: list[LayerInfo] = []
    layer_ids: set[int] = set()
    infos: dict[int, LayerInfo] = {}
    handles: dict[int, tuple[Any, Any]] = {}

    def make_pre_hook(var_name: str, d: int, parent: LayerInfo | None) -> Any:
        def pre_hook(module: Any, inputs: Any) -> None:
            info = LayerInfo(var_name, module, d, parent)
            info.calculate_num_params()
            info.is_recursive = info.layer_id in layer_ids
            summary_list.append(info)
            layer_ids.add(info.layer_id)
            infos[info.layer_id] = info
        return pre_hook

    def hook(module: Any, inputs: Any, outputs: Any) -> None:
        info = infos[id(module)]
        info.input_size, _ = _value_size(inputs, batch_dim)
        info.output_size, elem = _value_size(outputs, batch_dim)
        info.output_bytes = elem * _prod(info.output_size)
        info.executed = True
        info.calculate_macs()

    stack: list[tuple[str, Any, int, LayerInfo | None]] = [(type(model).__name__, model, 0, None)]
    while stack:
        var_name, module, d, parent = stack.pop()
        infos[id(module)] = LayerInfo(var_name, module, d, parent)
        pre_hook = make_pre_hook(var_name, d, parent)
        if x is None:
            pre_hook(module, None)
        else:
            if id(module) in handles:        # registered once per module, for its last place in the tree
                for h in handles[id(module)]:
                    h.remove()
            handles[id(module)] = (module.register_forward_pre_hook(pre_hook),
                                   engine.register_forward_hook(module, hook))
        stack += [(name, child, d + 1, infos[id(module)])
                  for name, child in reversed(list(module._modules.items())) if child is not None]

    if x is not None:
        modes = engine.modes(model)
        try:
            model.train(mode == "train")
            with engine.no_grad():
                if isinstance(x, Mapping):
                    model(**x, **kwargs)
                else:
                    model(*x, **kwargs)
        except Exception as err:
            ran = [layer for layer in summary_list if layer.executed]
            raise RuntimeError(f"summary: the forward pass of {type(model).__name__} failed on input "
                               f"{shown_size} ({type(err).__name__}: {err}); layers run: {ran}") from err
        finally:
            for pre, post in handles.values():
                pre.remove()
                post.remove()
            engine.set_modes(modes)
        _add_missing_containers(summary_list)
    _set_children(summary_list)
    stats = ModelStatistics(summary_list, shown_size, _input_bytes(x) if x is not None else 0, depth=depth,
                            verbose=verbose, col_names=columns, col_width=col_width, row_settings=rows,
                            model_name=type(model).__name__, batch_dim=batch_dim)
    if verbose > 0:
        print(stats)
    return stats
