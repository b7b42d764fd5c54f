"""`Tensor`: a NumPy array that records the operations applied to it (define-by-run).

A Tensor wraps an `np.ndarray` (`_data`). When it requires a gradient, every operation on it
creates a node (a `Function`) linking the result to its inputs, so the graph whose leaves are
the inputs and parameters and whose root is the loss is built as the code runs; `backward()`
walks it in reverse (see `engine.py`). Names, arguments and semantics follow PyTorch.
"""
from __future__ import annotations

from collections import namedtuple
from typing import Any, Iterable, Sequence

import numpy as np

from gradwise.ops import activation as A
from gradwise.ops import arithmetic as ar
from gradwise.ops import index as ix
from gradwise.ops import linalg as la
from gradwise.ops import reduce as rd
from gradwise.ops import select as sl
from gradwise.ops import shape as sh
from gradwise.ops import unary as un
from gradwise.tensor import dtypes, engine, function, grad_mode

_GradMode = grad_mode._GradMode
MinMax = namedtuple("MinMax", ["values", "indices"])


class _Version:
    """The version counter shared by a tensor and its views; bumped by every in-place change."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


def _sizes(args: tuple) -> tuple:
    """Accept both f(2, 3) and f((2, 3)) as PyTorch does."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _key(key):
    """Turn Tensors inside an index into NumPy arrays."""
    if isinstance(key, Tensor):
        return key._data
    if isinstance(key, tuple):
        return tuple(_key(k) if isinstance(k, (Tensor, list)) else k for k in key)
    if isinstance(key, list):
        return np.asarray([k._data if isinstance(k, Tensor) else k for k in key])
    return key


class Tensor:
    """A multi-dimensional array with reverse-mode automatic differentiation."""

    # _base/_view_fn (set only on views, read with getattr): the tensor a view looks into and how
    # to take the view again from it, so that an in-place change through the view can rebase the
    # base's history (PyTorch's CopySlices).
    __slots__ = ("_base", "_view_fn", "_data", "requires_grad", "grad_fn", "_grad", "_version", "_output_nr",
                 "_hooks", "_borrowed", "_retains_grad", "__weakref__")
    __array_ufunc__ = None  # make `ndarray * Tensor` call Tensor.__rmul__
    __hash__ = object.__hash__

    def __init__(self, data: Any = (), *, dtype=None, requires_grad: bool = False) -> None:
        array = _to_array(data, dtype)
        if dtype is None and array.dtype.kind in "iub" and not isinstance(data, np.ndarray):
            array = array.astype(dtypes.get_default_dtype())  # torch.Tensor(...) is float32
        self._init(array, None, requires_grad, 0)

    @staticmethod
    def _make(data: np.ndarray, grad_fn=None, requires_grad: bool = False, output_nr: int = 0) -> "Tensor":
        """Wrap an array produced by gradwise itself (the hot path: no checks)."""
        t = object.__new__(Tensor)
        t._data = data if type(data) is np.ndarray else np.asarray(data)
        t.grad_fn = grad_fn
        t.requires_grad = requires_grad
        t._grad = None
        t._version = _Version()
        t._output_nr = output_nr
        t._hooks = None
        t._borrowed = False
        t._retains_grad = False
        return t

    def _init(self, data, grad_fn, requires_grad, output_nr) -> None:
        if type(data) is not np.ndarray:
            data = np.asarray(data)
        self._data = data
        self.grad_fn = grad_fn
        self.requires_grad = requires_grad
        self._grad = None
        self._version = _Version()
        self._output_nr = output_nr
        self._hooks = None
        self._borrowed = False
        self._retains_grad = False
        if requires_grad and grad_fn is None and data.dtype.kind not in "fc":
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients (got {data.dtype})")

    # ------------------------------------------------------------------ attributes
    @property
    def data(self) -> "Tensor":
        """The same storage, detached from the graph (changes through it are not tracked)."""
        return Tensor._make(self._data)

    @data.setter
    def data(self, value) -> None:
        self._data = value._data if isinstance(value, Tensor) else np.asarray(value)

    @property
    def grad(self) -> "Tensor | None":
        if self.grad_fn is not None and not self._retains_grad and self.requires_grad:
            import warnings

            warnings.warn("The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. "
                          "Its .grad will not be populated during backward(); call .retain_grad() on it "
                          "first if you need it.", UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is not None:
            value = value if isinstance(value, Tensor) else Tensor._make(np.asarray(value))
            if value._data.shape != self._data.shape:
                raise RuntimeError(f"assigned grad has shape {tuple(value.shape)} but the tensor has "
                                   f"shape {tuple(self.shape)}")
            value._borrowed = True
        self._grad = value

    @property
    def shape(self) -> tuple:
        return Size(self._data.shape)

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def is_cuda(self) -> bool:
        return False

    @property
    def is_sparse(self) -> bool:
        return False

    @property
    def T(self) -> "Tensor":
        return self.permute(tuple(range(self.ndim))[::-1])

    @property
    def mT(self) -> "Tensor":
        return self.transpose(-2, -1)

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self._data.shape[dim]

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return self._data.size

    nelement = numel

    def element_size(self) -> int:
        return self._data.itemsize

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    # ------------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return self._data

    def __array__(self, dtype=None, copy=None):
        return self._data if dtype is None else self._data.astype(dtype)

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return self._data.item()

    def tolist(self):
        return self._data.tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iu" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self._data.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self._data.size} elements is ambiguous")
        return bool(self._data.item())

    def to(self, *args, **kwargs) -> "Tensor":
        """`to(dtype)`, `to("cpu")`, `to(other_tensor)`; other devices are not available yet."""
        dtype = kwargs.get("dtype")
        for a in list(args) + [kwargs.get("device")]:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, str) or (a is not None and type(a).__name__ == "device"):
                _check_device(a)
            elif a is not None:
                dtype = a
        if dtype is None or dtypes.to_dtype(dtype) == self._data.dtype:
            return self
        return sh.Cast.apply(self, dtype=dtypes.to_dtype(dtype))

    def type(self, dtype=None):
        if dtype is None:
            return f"gradwise.{self._data.dtype.name.capitalize()}Tensor"
        return self.to(dtype)

    def float(self) -> "Tensor":
        return self.to(dtypes.float32)

    def double(self) -> "Tensor":
        return self.to(dtypes.float64)

    def half(self) -> "Tensor":
        return self.to(dtypes.float16)

    def long(self) -> "Tensor":
        return self.to(dtypes.int64)

    def int(self) -> "Tensor":
        return self.to(dtypes.int32)

    def bool(self) -> "Tensor":
        return self.to(dtypes.bool_)

    def type_as(self, other: "Tensor") -> "Tensor":
        return self.to(other.dtype)

    def cpu(self) -> "Tensor":
        return self

    def cuda(self, *args, **kwargs) -> "Tensor":
        _check_device("cuda")

    # ------------------------------------------------------------------ autograd
    def backward(self, gradient: "Tensor | None" = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: Sequence["Tensor"] | None = None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's `.grad` (PyTorch's `Tensor.backward`)."""
        if not self.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        gradient = _root_gradient(self, gradient, "backward")
        if retain_graph is None:
            retain_graph = create_graph
        if inputs is not None:
            grads = engine.run_backward([self], [gradient], retain_graph, create_graph,
                                        capture=list(inputs), allow_unused=True)
            for t, g in zip(inputs, grads):
                if g is not None:
                    t._grad = g if t._grad is None else t._grad + g
            return
        engine.run_backward([self], [gradient], retain_graph, create_graph)

    def detach(self) -> "Tensor":
        """The same storage and version counter, with no history."""
        t = Tensor._make(self._data)
        t._version = self._version
        return t

    def detach_(self) -> "Tensor":
        self.grad_fn, self.requires_grad = None, False
        return self

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If you want to use "
                               "a computed variable in a subgraph that doesn't require differentiation use "
                               "var_no_grad = var.detach().")
        if requires_grad and self._data.dtype.kind not in "fc":
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients (got {self.dtype})")
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep the gradient of this non-leaf tensor in `.grad` after backward."""
        if self.grad_fn is None or self._retains_grad:
            return
        import weakref

        ref = weakref.ref(self)

        def keep(g):
            t = ref()
            if t is not None:
                # a copy, as torch clones it: .grad must not alias the gradient flowing on
                g = Tensor._make(g._data.copy()) if not _GradMode.enabled else g
                t._grad = g if t._grad is None else t._grad + g

        keep._retains_grad = True
        self._add_node_hook(keep)
        self._retains_grad = True

    def register_hook(self, hook) -> "_HookHandle":
        """Call `hook(grad)` when this tensor's gradient is computed; a returned Tensor replaces it."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is None:
            if self._hooks is None:
                self._hooks = []
            self._hooks.append(hook)
            return _HookHandle(self._hooks, hook)
        return self._add_node_hook(hook)

    def _add_node_hook(self, hook) -> "_HookHandle":
        node = self.grad_fn
        if node.tensor_hooks is None:
            node.tensor_hooks = {}
        hooks = node.tensor_hooks.setdefault(self._output_nr, [])
        if hooks and getattr(hooks[-1], "_retains_grad", False):
            hooks.insert(len(hooks) - 1, hook)  # retain_grad sees the gradient after all hooks
        else:
            hooks.append(hook)
        return _HookHandle(hooks, hook)

    # ------------------------------------------------------------------ in-place
    def _modify(self, graph_op, array_op, *args) -> "Tensor":
        """Apply an in-place change: straight on the array without a graph, otherwise recorded.

        With a graph, the old value is kept as a snapshot that stands in the graph for it, the
        result of the out-of-place op is copied into this tensor's storage, and this tensor
        takes over the result's node (PyTorch's "rebase history").
        """
        if _GradMode.enabled and (self.requires_grad or any(isinstance(a, Tensor) and a.requires_grad for a in args)):
            base = getattr(self, "_base", None)
            if base is not None:
                return self._modify_view(base, graph_op, args)
            if self.grad_fn is None and self.requires_grad:
                raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
            snapshot = Tensor._make(self._data.copy(), self.grad_fn, self.requires_grad, self._output_nr)
            result = graph_op(snapshot, *args)
            np.copyto(self._data, result._data, casting="unsafe")
            self.grad_fn, self._output_nr, self.requires_grad = result.grad_fn, result._output_nr, True
        else:
            if not self._data.flags.writeable:
                raise RuntimeError(f"in-place operation on a read-only tensor of shape {tuple(self.shape)} "
                                   "(an expanded view); .clone() it first")
            array_op(self._data, *(a._data if isinstance(a, Tensor) else a for a in args))
        self._version.value += 1
        return self

    def _modify_view(self, base: "Tensor", graph_op, args) -> "Tensor":
        """An in-place change through a view of `base`, recorded on the base (CopySlices).

        The base's old value (a snapshot) gets the view's new values written in by a `ViewPut`
        node, which becomes the base's history; this view is then re-taken from the new base,
        so gradients reach both what was written and the rest of the base.
        """
        if base.grad_fn is None and base.requires_grad:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place "
                               "operation.")
        view_fn = self._view_fn
        old_base = Tensor._make(base._data.copy(), base.grad_fn, base.requires_grad, base._output_nr)
        result = graph_op(view_fn(old_base), *args)
        new_base = ix.ViewPut.apply(old_base, result, view_fn=view_fn)
        np.copyto(base._data, new_base._data, casting="unsafe")
        base.grad_fn, base._output_nr, base.requires_grad = new_base.grad_fn, 0, True
        fresh = view_fn(base)
        self.grad_fn, self._output_nr, self.requires_grad = fresh.grad_fn, fresh._output_nr, True
        self._version.value += 1
        return self

    def add_(self, other, *, alpha=1) -> "Tensor":
        if alpha != 1:
            other = other * alpha
        return self._modify(Tensor.__add__, lambda a, b: np.add(a, b, out=a, casting="unsafe"), other)

    def sub_(self, other, *, alpha=1) -> "Tensor":
        if alpha != 1:
            other = other * alpha
        return self._modify(Tensor.__sub__, lambda a, b: np.subtract(a, b, out=a, casting="unsafe"), other)

    def mul_(self, other) -> "Tensor":
        return self._modify(Tensor.__mul__, lambda a, b: np.multiply(a, b, out=a, casting="unsafe"), other)

    def div_(self, other) -> "Tensor":
        return self._modify(Tensor.__truediv__, lambda a, b: np.divide(a, b, out=a, casting="unsafe"), other)

    def pow_(self, other) -> "Tensor":
        return self._modify(Tensor.__pow__, lambda a, b: np.power(a, b, out=a, casting="unsafe"), other)

    def clamp_(self, min=None, max=None) -> "Tensor":
        return self._modify(lambda t: t.clamp(min, max), lambda a: np.clip(a, min, max, out=a))

    def copy_(self, src) -> "Tensor":
        src = src if isinstance(src, Tensor) else tensor(src)
        return self._modify(lambda t, s: t * 0 + s.to(t.dtype),
                            lambda a, s: np.copyto(a, np.broadcast_to(s, a.shape), casting="unsafe"), src)

    def zero_(self) -> "Tensor":
        return self.fill_(0)

    def fill_(self, value) -> "Tensor":
        return self._modify(lambda t: t * 0 + value, lambda a: a.fill(value))

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator=None) -> "Tensor":
        from gradwise.tensor import random

        with grad_mode.no_grad():
            return self.copy_(random._rng(generator).uniform(a, b, self._data.shape))

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator=None) -> "Tensor":
        from gradwise.tensor import random

        with grad_mode.no_grad():
            return self.copy_(random._rng(generator).normal(mean, std, self._data.shape))

    def masked_fill_(self, mask, value) -> "Tensor":
        mask = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
        return self._modify(lambda t: t.masked_fill(mask, value),
                            lambda a: np.copyto(a, value, where=np.broadcast_to(mask, a.shape)))

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def __setitem__(self, key, value) -> None:
        key = _key(key)

        def write(a, v):
            a[key] = v

        self._modify(lambda t, v: ix.IndexPut.apply(t, v, key=key), write, value)

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other):
        return ar.Add.apply(*_pair(self, other))

    def __radd__(self, other):
        a, b = _pair(self, other)
        return ar.Add.apply(b, a)

    def __sub__(self, other):
        return ar.Sub.apply(*_pair(self, other))

    def __rsub__(self, other):
        a, b = _pair(self, other)
        return ar.Sub.apply(b, a)

    def __mul__(self, other):
        return ar.Mul.apply(*_pair(self, other))

    def __rmul__(self, other):
        a, b = _pair(self, other)
        return ar.Mul.apply(b, a)

    def __truediv__(self, other):
        a, b = _pair(self, other)
        return ar.Div.apply(_float(a), _float(b) if isinstance(b, Tensor) else b)

    def __rtruediv__(self, other):
        a, b = _pair(self, other)
        return ar.Div.apply(_float(b) if isinstance(b, Tensor) else b, _float(a))

    def __pow__(self, other):
        return ar.Pow.apply(*_pair(self, other))

    def __rpow__(self, other):
        a, b = _pair(self, other)
        return ar.Pow.apply(b, a)

    def __neg__(self):
        return ar.Neg.apply(self)

    def __pos__(self):
        return self

    def __matmul__(self, other):
        return la.Matmul.apply(self, _operand(other, self))

    def __rmatmul__(self, other):
        return la.Matmul.apply(_operand(other, self), self)

    def __abs__(self):
        return self.abs()

    def add(self, other, *, alpha=1):
        return self + (other * alpha if alpha != 1 else other)

    def sub(self, other, *, alpha=1):
        return self - (other * alpha if alpha != 1 else other)

    def mul(self, other):
        return self * other

    def div(self, other):
        return self / other

    def pow(self, exponent):
        return self ** exponent

    def neg(self):
        return -self

    def matmul(self, other):
        return self @ other

    def mm(self, other):
        if self.ndim != 2 or _ndim(other) != 2:
            raise RuntimeError(f"mm: expected two 2-D tensors, got shapes {tuple(self.shape)} and {tuple(other.shape)}")
        return la.Matmul.apply(self, other, op="mm")

    def bmm(self, other):
        if self.ndim != 3 or _ndim(other) != 3 or self.shape[0] != other.shape[0]:
            raise RuntimeError(f"bmm: expected two 3-D tensors with the same batch size, got shapes "
                               f"{tuple(self.shape)} and {tuple(other.shape)}")
        return la.Matmul.apply(self, other, op="bmm")

    # comparisons: no gradient, boolean results
    def __eq__(self, other):
        return _compare(np.equal, self, other)

    def __ne__(self, other):
        return _compare(np.not_equal, self, other)

    def __lt__(self, other):
        return _compare(np.less, self, other)

    def __le__(self, other):
        return _compare(np.less_equal, self, other)

    def __gt__(self, other):
        return _compare(np.greater, self, other)

    def __ge__(self, other):
        return _compare(np.greater_equal, self, other)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    def __and__(self, other):
        return _compare(np.logical_and, self, other)

    def __or__(self, other):
        return _compare(np.logical_or, self, other)

    def __invert__(self):
        return Tensor._make(np.logical_not(self._data) if self.dtype == bool else np.invert(self._data))

    def equal(self, other) -> bool:
        return self.shape == other.shape and bool(np.array_equal(self._data, other._data))

    def allclose(self, other, rtol=1e-5, atol=1e-8) -> bool:
        return bool(np.allclose(self._data, _arr(other), rtol=rtol, atol=atol))

    def isnan(self):
        return Tensor._make(np.isnan(self._data))

    def isfinite(self):
        return Tensor._make(np.isfinite(self._data))

    def all(self, dim=None):
        return Tensor._make(np.asarray(np.all(self._data, axis=dim)))

    def any(self, dim=None):
        return Tensor._make(np.asarray(np.any(self._data, axis=dim)))

    def sign(self):
        return Tensor._make(np.sign(self._data))

    # ------------------------------------------------------------------ elementwise maths
    def abs(self):
        return un.Abs.apply(self)

    def exp(self):
        return un.Exp.apply(_float(self))

    def log(self):
        return un.Log.apply(_float(self))

    def log1p(self):
        return un.Log1p.apply(_float(self))

    def sqrt(self):
        return un.Sqrt.apply(_float(self))

    def rsqrt(self):
        return un.Rsqrt.apply(_float(self))

    def sin(self):
        return un.Sin.apply(_float(self))

    def cos(self):
        return un.Cos.apply(_float(self))

    def square(self):
        return self * self

    def tanh(self):
        return A.Tanh.apply(_float(self))

    def sigmoid(self):
        return A.Sigmoid.apply(_float(self))

    def relu(self):
        return A.Relu.apply(self)

    def clamp(self, min=None, max=None):
        if min is None and max is None:
            raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            out = self
            if min is not None:
                out = out.maximum(min if isinstance(min, Tensor) else full_like(self, min))
            if max is not None:
                out = out.minimum(max if isinstance(max, Tensor) else full_like(self, max))
            return out
        if isinstance(min, float) or isinstance(max, float):
            return un.Clamp.apply(_float(self), min=min, max=max)  # int tensor, float bound: float32
        return un.Clamp.apply(self, min=min, max=max)

    clip = clamp

    def maximum(self, other):
        return sl.Maximum.apply(*_pair(self, other))

    def minimum(self, other):
        return sl.Minimum.apply(*_pair(self, other))

    def where(self, condition, other):
        return where(condition, self, other)

    def masked_fill(self, mask, value):
        mask = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
        return sl.Where.apply(mask, _operand(value, self), self)

    # ------------------------------------------------------------------ reductions
    def sum(self, dim=None, keepdim: bool = False, dtype=None):
        return rd.Sum.apply(self, dim=dim, keepdim=keepdim, dtype=dtype)

    def mean(self, dim=None, keepdim: bool = False, dtype=None):
        if self._data.dtype.kind not in "fc" and dtype is None:
            raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a floating "
                               f"point or complex dtype. Got: {self.dtype}")
        source = self if dtype is None else self.to(dtype)
        return rd.Mean.apply(source, dim=dim, keepdim=keepdim)

    def var(self, dim=None, unbiased: bool | None = None, keepdim: bool = False, *, correction=None):
        return rd.Var.apply(self, dim=dim, keepdim=keepdim, correction=_correction(unbiased, correction))

    def std(self, dim=None, unbiased: bool | None = None, keepdim: bool = False, *, correction=None):
        return self.var(dim, unbiased, keepdim, correction=correction).sqrt()

    def amax(self, dim=(), keepdim: bool = False):
        return rd.Amax.apply(self, dim=None if dim == () else dim, keepdim=keepdim)

    def amin(self, dim=(), keepdim: bool = False):
        return rd.Amin.apply(self, dim=None if dim == () else dim, keepdim=keepdim)

    def max(self, dim=None, keepdim: bool = False):
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        if dim is None:
            return rd.Amax.apply(self)
        return self._extreme_along(dim, keepdim, largest=True)

    def min(self, dim=None, keepdim: bool = False):
        if isinstance(dim, Tensor):
            return self.minimum(dim)
        if dim is None:
            return rd.Amin.apply(self)
        return self._extreme_along(dim, keepdim, largest=False)

    def _extreme_along(self, dim, keepdim, largest):
        node_values = rd.MaxAlong.apply(self, dim=dim, keepdim=keepdim, largest=largest)
        find = np.argmax if largest else np.argmin
        idx = find(self._data, axis=dim)
        if keepdim:
            idx = np.expand_dims(idx, dim)
        return MinMax(node_values, Tensor._make(np.asarray(idx, dtype=np.int64)))

    def argmax(self, dim=None, keepdim: bool = False):
        return Tensor._make(np.asarray(np.argmax(self._data, axis=dim, keepdims=keepdim and dim is not None),
                                       dtype=np.int64))

    def argmin(self, dim=None, keepdim: bool = False):
        return Tensor._make(np.asarray(np.argmin(self._data, axis=dim, keepdims=keepdim and dim is not None),
                                       dtype=np.int64))

    def logsumexp(self, dim, keepdim: bool = False):
        return rd.LogSumExp.apply(_float(self), dim=dim, keepdim=keepdim)

    def softmax(self, dim: int):
        return A.Softmax.apply(_float(self), dim=dim)

    def log_softmax(self, dim: int):
        return A.LogSoftmax.apply(_float(self), dim=dim)

    def prod(self, dim=None, keepdim=False):
        # exp(sum(log|x|)) would fail at zeros; products are rare in networks, compose from cumprod-free ops.
        if dim is None:
            return self.reshape(-1)._prod_along(0, False)
        return self._prod_along(dim, keepdim)

    def _prod_along(self, dim, keepdim):
        pieces = self.unbind(dim)
        out = pieces[0]
        for p in pieces[1:]:
            out = out * p
        return out.unsqueeze(dim) if keepdim else out

    # ------------------------------------------------------------------ shape
    def reshape(self, *shape):
        shape = _sizes(shape)
        return _view(self, sh.Reshape.apply(self, shape=shape), lambda t: t.reshape(shape))

    def view(self, *shape):
        if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list, Size)):
            return self.to(shape[0])
        return self.reshape(*shape)

    def view_as(self, other):
        return self.reshape(other.shape)

    reshape_as = view_as

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        if self.ndim == 0:
            return self.reshape(1)
        start, end = start_dim % self.ndim, end_dim % self.ndim
        shape = self._data.shape
        return self.reshape(shape[:start] + (-1,) + shape[end + 1:]) if start <= end else self

    def unflatten(self, dim: int, sizes):
        dim = dim % self.ndim
        return self.reshape(self._data.shape[:dim] + tuple(sizes) + self._data.shape[dim + 1:])

    def permute(self, *dims):
        dims = _sizes(dims)
        return _view(self, sh.Permute.apply(self, dims=dims), lambda t: t.permute(dims))

    def transpose(self, dim0: int, dim1: int):
        if self.ndim < 2 and dim0 in (0, -1) and dim1 in (0, -1):
            return self
        axes = list(range(self.ndim))
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
        return self.permute(tuple(axes))

    def t(self):
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self.transpose(0, 1) if self.ndim == 2 else self

    def unsqueeze(self, dim: int):
        dim = dim % (self.ndim + 1)
        return self.reshape(self._data.shape[:dim] + (1,) + self._data.shape[dim:])

    def squeeze(self, dim=None):
        shape = self._data.shape
        if dim is None:
            return self.reshape(tuple(n for n in shape if n != 1))
        dims = {d % max(self.ndim, 1) for d in ((dim,) if isinstance(dim, int) else dim)}
        return self.reshape(tuple(n for i, n in enumerate(shape) if not (i in dims and n == 1)))

    def expand(self, *sizes):
        sizes = _sizes(sizes)
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater or "
                               f"equal to the number of dimensions in the tensor ({self.ndim})")
        target = tuple(self._data.shape[i - lead] if n == -1 else n for i, n in enumerate(sizes))
        if target == self._data.shape:
            return self
        return _view(self, sh.Expand.apply(self, shape=target))

    def expand_as(self, other):
        return self.expand(other.shape)

    def broadcast_to(self, shape):
        return self.expand(shape)

    def repeat(self, *sizes):
        sizes = _sizes(sizes)
        out = self.reshape((1,) * (len(sizes) - self.ndim) + self._data.shape)
        for d, n in enumerate(sizes):
            if n != 1:
                out = cat([out] * n, dim=d)
        return out

    def flip(self, dims):
        return sh.Flip.apply(self, dims=tuple(dims) if not isinstance(dims, int) else (dims,))

    def split(self, split_size_or_sections, dim: int = 0):
        size = self._data.shape[dim]
        if isinstance(split_size_or_sections, int):
            step = split_size_or_sections
            sizes = [min(step, size - i) for i in range(0, size, step)] or [0]
        else:
            sizes = list(split_size_or_sections)
        pieces = _as_tuple(sh.Split.apply(self, sizes=sizes, dim=dim))
        return tuple(_view(self, p, lambda t, i=i: t.split(sizes, dim)[i]) for i, p in enumerate(pieces))

    def chunk(self, chunks: int, dim: int = 0):
        size = self._data.shape[dim]
        step = -(-size // chunks)
        return self.split(step, dim)

    def unbind(self, dim: int = 0):
        return tuple(p.squeeze(dim) for p in self.split(1, dim))

    def select(self, dim: int, index: int):
        key = (slice(None),) * (dim % self.ndim) + (index,)
        return self[key]

    def narrow(self, dim: int, start: int, length: int):
        key = (slice(None),) * (dim % self.ndim) + (slice(start, start + length),)
        return self[key]

    def contiguous(self):
        return self if self._data.flags.c_contiguous else sh.Copy.apply(self)

    def clone(self):
        return sh.Copy.apply(self)

    def __getitem__(self, key):
        key = _key(key)
        if ix.is_basic_key(key):
            return _view(self, ix.Index.apply(self, key=key), lambda t: t[key])
        return ix.Index.apply(self, key=key)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", prefix="tensor(", precision=4)
        extras = []
        if self._data.dtype not in (dtypes.float32, dtypes.int64, dtypes.bool_):
            extras.append(f"dtype=gradwise.{self._data.dtype.name}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name()}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    def __reduce_ex__(self, protocol):
        return (_rebuild, (self._data, self.requires_grad))


class Size(tuple):
    """A tensor's shape: a tuple (as torch.Size) with `numel()`."""

    def numel(self) -> int:
        return int(np.prod(self)) if self else 1

    def __repr__(self) -> str:
        return f"gradwise.Size({list(self)})"


class _HookHandle:
    """Returned by `register_hook`; `.remove()` unregisters the hook."""

    def __init__(self, hooks: list, hook) -> None:
        self.hooks, self.hook = hooks, hook

    def remove(self) -> None:
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


def _rebuild(data, requires_grad):
    t = Tensor._make(data)
    t.requires_grad = requires_grad
    return t


function.Tensor = Tensor


# ---------------------------------------------------------------------- helpers
def _to_array(data, dtype=None) -> np.ndarray:
    if isinstance(data, Tensor):
        array = data._data
    elif isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flatten(data)):
        array = np.array([_to_array(x) for x in data])
    else:
        array = np.asarray(data)
    if dtype is not None:
        return array.astype(dtypes.to_dtype(dtype), copy=False)
    return array


def _flatten(data):
    for x in data:
        if isinstance(x, (list, tuple)):
            yield from _flatten(x)
        else:
            yield x


def _operand(other, like: Tensor):
    """Scalars stay Python numbers (NumPy keeps the tensor's dtype); arrays become Tensors."""
    kind = type(other)
    if kind is Tensor or kind is int:
        return other
    if kind is float:
        return other if like._data.dtype.kind == "f" else float(other)
    if isinstance(other, Tensor):
        return other
    if isinstance(other, (int, float, bool)):
        if isinstance(other, float) and like._data.dtype.kind in "iub":
            return float(other)
        return other
    if isinstance(other, np.ndarray):
        return Tensor._make(other)
    if isinstance(other, np.generic):
        return other.item()
    return Tensor._make(_to_array(other))


_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def _promote_types(x: np.dtype, y: np.dtype) -> np.dtype:
    """torch.promote_types: within a category the wider type, across categories the higher one
    (int64 with float32 is float32, where NumPy would say float64)."""
    cx, cy = _CATEGORY[x.kind], _CATEGORY[y.kind]
    if cx == cy:
        return np.promote_types(x, y)
    return x if cx > cy else y


def _result_type(a: Tensor, b: Tensor) -> np.dtype:
    """PyTorch's result dtype of two tensors: a 0-d tensor only changes the result when it is of
    a higher category (float32 tensor + float64 0-d tensor stays float32)."""
    da, db = a._data.dtype, b._data.dtype
    zero_a, zero_b = a._data.ndim == 0, b._data.ndim == 0
    if zero_a == zero_b:
        return _promote_types(da, db)
    dim, zero = (db, da) if zero_a else (da, db)
    return _promote_types(dim, zero) if _CATEGORY[zero.kind] > _CATEGORY[dim.kind] else dim


def _pair(t: Tensor, other):
    """`t` and `other` ready for a binary op, with PyTorch's type promotion.

    `other` becomes a Tensor or stays a Python scalar (NumPy then keeps the tensor's dtype, as
    torch does); a Python float with an integer tensor gives the default float dtype, and
    tensors of different dtypes are cast to torch's result dtype (differentiably).
    """
    kind = type(other)
    if kind is Tensor:
        if other._data.dtype is t._data.dtype:
            return t, other
    elif kind is float:
        if t._data.dtype.kind != "f":
            return _float(t), other
        return t, other
    elif kind is int or kind is bool:
        return t, other
    elif isinstance(other, Tensor):
        pass
    else:
        if isinstance(other, np.generic):
            other = other.item()
        elif isinstance(other, float):  # float subclasses (np.float64 is one)
            other = float(other)
        elif isinstance(other, int):
            other = bool(other) if isinstance(other, (bool, np.bool_)) else int(other)
        else:
            other = _operand(other, t)
        if not isinstance(other, Tensor):
            return _pair(t, other)
    dtype = _result_type(t, other)
    if t._data.dtype != dtype:
        t = sh.Cast.apply(t, dtype=dtype)
    if other._data.dtype != dtype:
        other = sh.Cast.apply(other, dtype=dtype)
    return t, other


def _float(t: Tensor) -> Tensor:
    """Integer tensors become the default float before float-only maths (as PyTorch)."""
    if t._data.dtype.kind in "iub":
        return Tensor._make(t._data.astype(dtypes.get_default_dtype()))
    return t


def _arr(x):
    return x._data if isinstance(x, Tensor) else np.asarray(x)


def _ndim(x) -> int:
    return x.ndim if isinstance(x, Tensor) else np.ndim(x)


def _compare(op, a: Tensor, b) -> Tensor:
    return Tensor._make(np.asarray(op(a._data, _arr(b))))


def _view(base: Tensor, out: Tensor, view_fn=None) -> Tensor:
    """Views share the version counter of the tensor they look into, and remember it (with
    `view_fn`, how to take the view from it) for in-place changes made through them."""
    if np.may_share_memory(out._data, base._data):
        out._version = base._version
        if view_fn is not None:
            root = getattr(base, "_base", None)
            if root is None:
                out._base, out._view_fn = base, view_fn
            else:
                parent_fn = base._view_fn
                out._base, out._view_fn = root, lambda t: view_fn(parent_fn(t))
    return out


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    return 0 if unbiased is False else 1


def _check_device(device) -> None:
    name = str(device)
    if not name.startswith("cpu"):
        raise RuntimeError(f"device {name!r} is not available: gradwise runs on the CPU with NumPy "
                           "(a CuPy back end is planned)")


def _root_gradient(root: Tensor, gradient, op: str) -> Tensor:
    if gradient is None:
        if root._data.size != 1:
            raise RuntimeError(f"{op}: grad can be implicitly created only for scalar outputs; this "
                               f"output has shape {tuple(root.shape)}, so pass gradient= of that shape")
        return Tensor._make(np.ones(root._data.shape, dtype=root._data.dtype))
    gradient = gradient if isinstance(gradient, Tensor) else Tensor._make(np.asarray(gradient, dtype=root.dtype))
    if gradient.shape != root.shape:
        raise RuntimeError(f"{op}: gradient has shape {tuple(gradient.shape)} but the output has shape "
                           f"{tuple(root.shape)}")
    return gradient


# ---------------------------------------------------------------------- torch-level functions
def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of `data`; Python floats become float32 (PyTorch's default)."""
    if device is not None:
        _check_device(device)
    array = np.array(_to_array(data), copy=True)
    if array.dtype.kind not in "biuf":
        _not_numbers(data, array)
    if dtype is not None:
        array = array.astype(dtypes.to_dtype(dtype))
    elif array.dtype == np.float64 and not isinstance(data, (np.ndarray, np.generic, Tensor)):
        array = array.astype(dtypes.get_default_dtype())
    elif array.dtype.kind == "i" and not isinstance(data, (np.ndarray, np.generic, Tensor)):
        array = array.astype(np.int64)
    t = Tensor._make(array)
    if requires_grad:
        t.requires_grad_(True)
    return t


_SUPPORTED = ("float64, float32, float16, complex64, complex128, int64, int32, int16, int8, uint64, uint32, uint16, "
              "uint8, and bool")


def _not_numbers(data, array: np.ndarray) -> None:
    """PyTorch's error for data that is not numbers (strings, None, objects); complex passes."""
    if array.dtype.kind == "c":
        return
    if isinstance(data, np.ndarray):
        raise TypeError(f"can't convert np.ndarray of type numpy.{array.dtype.type.__name__}. The only supported "
                        f"types are: {_SUPPORTED}.")
    first = data
    while isinstance(first, (list, tuple)) and len(first) > 0:  # PyTorch reads the shape off the first items,
        first = first[0]                                        # and a string is a sequence of strings
        if isinstance(first, str):
            raise ValueError("too many dimensions 'str'")
    for item in _flatten(data) if isinstance(data, (list, tuple)) else [data]:
        if isinstance(item, (str, bytes)):
            raise TypeError(f"new(): invalid data type '{type(item).__name__}'")
        if not isinstance(item, (int, float, complex, np.generic, Tensor)):
            raise RuntimeError(f"Could not infer dtype of {type(item).__name__}")
    raise RuntimeError(f"Could not infer dtype of numpy.{array.dtype.type.__name__}")


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with `array` (changes to one show in the other)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    return Tensor._make(array)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtypes.to_dtype(dtype)):
        return data
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == dtypes.to_dtype(dtype)):
        return Tensor._make(data)
    return tensor(data, dtype=dtype, device=device)


def full_like(t: Tensor, value, dtype=None) -> Tensor:
    return Tensor._make(np.full(t._data.shape, value, dtype=dtype or t.dtype))


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    return sh.Cat.apply(*tensors, dim=dim)


concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    return sh.Stack.apply(*tensors, dim=dim)


def where(condition, input=None, other=None) -> Tensor:
    cond = condition._data if isinstance(condition, Tensor) else np.asarray(condition)
    if input is None and other is None:
        return tuple(Tensor._make(i) for i in np.nonzero(cond))
    if isinstance(input, Tensor):
        input, other = _pair(input, other)
    elif isinstance(other, Tensor):
        other, input = _pair(other, input)
    else:
        input, other = _pair(tensor(input), other)
    return sl.Where.apply(cond, input, other)


