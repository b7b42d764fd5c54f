"""`Function`: one recorded operation — its forward on arrays and its backward on Tensors.

Every differentiable op is a small subclass (see `gradwise.ops`) in the style of teenygrad's
`mlops.py`: `forward` computes NumPy arrays, `backward` maps output gradients to input
gradients. Backward rules are written with Tensor operations, so when the engine runs them
with recording on (`create_graph=True`) the gradient itself becomes differentiable — that is
how Hessian-vector products work. Broadcasting is undone by the engine (`sum_to`), so
elementwise rules never think about shapes.

An instance of a Function *is* the graph node: it holds the edges to the nodes (or leaf
tensors) that produced its inputs and what it saved for backward. Saved inputs are kept as
Tensors together with their version at save time; an in-place change before backward is then
reported instead of silently giving a wrong gradient (PyTorch's version counter).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from gradwise.tensor import grad_mode

_FREED = object()
Tensor: Any = None  # set by gradwise.tensor.tensor once the class exists (avoids an import cycle)


class Function:
    """Base class of all recorded operations.

    Subclasses set:
      * ``saved_inputs``: indices of the inputs that ``backward`` needs (as Tensors);
      * ``saves_output``: True when ``backward`` needs the output (e.g. exp, sigmoid);
      * ``differentiable``: False for ops with no gradient (comparisons, argmax).
    and implement ``forward(*arrays, **options) -> array | tuple[array, ...]`` and
    ``backward(*grads) -> Tensor | None | tuple[Tensor | None, ...]`` (one per input).
    """

    saved_inputs: tuple[int, ...] = ()
    saves_output: bool = False
    differentiable: bool = True

    # edges: per input, None (no gradient needed), a leaf Tensor, or (node, output_nr)
    __slots__ = ("edges", "needs_input_grad", "input_meta", "_saved", "_out", "n_outputs",
                 "out_meta", "tensor_hooks")

    @classmethod
    def apply(cls, *inputs: Any, **options: Any):
        """Run the op on Tensors (or constants) and record it when a gradient is needed."""
        node = cls()
        arrays = []
        record = False
        for t in inputs:
            if isinstance(t, Tensor):
                arrays.append(t._data)
                if t.requires_grad:
                    record = True
            else:
                arrays.append(t)
        try:
            out = node.forward(*arrays, **options)
        except ValueError as exc:
            if "broadcast" not in str(exc):
                raise
            shapes = " and ".join(str(tuple(np.shape(a))) for a in arrays if a is not None)
            raise RuntimeError(f"{cls.__name__.lower()}: the shapes {shapes} cannot be broadcast "
                               "together (sizes must match or be 1, aligned from the last dim)") from None
        make = Tensor._make
        if not (record and grad_mode._GradMode.enabled and cls.differentiable):
            if type(out) is tuple:
                return tuple(make(o) for o in out)
            return make(out)

        needs, edges, meta = [], [], []
        for t in inputs:
            if isinstance(t, Tensor) and t.requires_grad:
                needs.append(True)
                edges.append(t if t.grad_fn is None else (t.grad_fn, t._output_nr))
                meta.append((t._data.shape, t._data.dtype))
            else:
                needs.append(False)
                edges.append(None)
                meta.append(None)
        node.needs_input_grad, node.edges, node.input_meta = tuple(needs), edges, meta
        if cls.saved_inputs:
            node._saved = tuple((inputs[i], inputs[i]._version.value if isinstance(inputs[i], Tensor) else 0)
                                for i in cls.saved_inputs)
        else:
            node._saved = ()
        node.tensor_hooks = None
        if type(out) is tuple:
            node.n_outputs = len(out)
            node.out_meta = tuple((o.shape, o.dtype) for o in out)
            node._out = None
            return tuple(make(o, node, True, i) for i, o in enumerate(out))
        node.n_outputs = 1
        node.out_meta = None
        result = make(out, node, True, 0)
        node._out = (out, result._version, 0) if cls.saves_output else None
        return result

    # --- what backward rules use ------------------------------------------------------------
    @property
    def saved_tensors(self) -> tuple:
        """The saved inputs (Tensors or constants), checked against in-place changes."""
        saved = self._saved
        if saved is _FREED:
            raise RuntimeError(
                f"Trying to backward through the graph a second time ({self.name()} was already "
                "freed). Pass retain_graph=True to the first backward() or autograd.grad() call "
                "if you need to backward through the graph again.")
        for t, version in saved:
            if isinstance(t, Tensor) and t._version.value != version:
                raise RuntimeError(
                    f"one of the variables needed for gradient computation has been modified by an "
                    f"inplace operation: [{t.dtype} tensor of shape {tuple(t.shape)}] is at version "
                    f"{t._version.value}; expected version {version} instead (saved by {self.name()}). "
                    "Use an out-of-place operation, or .clone() the tensor before changing it.")
        return tuple(t for t, _ in saved)

    @property
    def output(self):
        """The forward result as a Tensor attached to this node (for rules like exp' = exp)."""
        if self._saved is _FREED:
            self.saved_tensors  # raises the "second time" error
        array, version, expected = self._out
        if version.value != expected:
            raise RuntimeError(
                f"the output of {self.name()} (shape {array.shape}) needed for gradient computation "
                f"has been modified by an inplace operation (version {version.value}, expected "
                f"{expected}). Use an out-of-place operation or .clone() it first.")
        return Tensor._make(array, self, True, 0)

    def release(self) -> None:
        """Drop what was saved for backward (the graph is used once unless retain_graph)."""
        if self.saved_inputs or self.saves_output:
            self._saved = _FREED
            self._out = None

    @classmethod
    def name(cls) -> str:
        return cls.__name__ + "Backward"

    def forward(self, *arrays, **options):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, *grads):  # pragma: no cover - abstract
        raise RuntimeError(f"{type(self).__name__} is not differentiable")


def once_differentiable(backward):
    """Decorate a backward rule that computes on arrays and cannot itself be differentiated.

    Under ``create_graph=True`` the gradients it returns are attached to a node whose own
    backward raises a clear error, instead of silently being treated as constants.
    """
    import functools

    @functools.wraps(backward)
    def wrapper(self, *grads):
        results = backward(self, *grads)
        if not grad_mode._GradMode.enabled:
            return results
        if not any(isinstance(g, Tensor) and g.requires_grad for g in grads):
            return results
        single = not isinstance(results, tuple)
        results = (results,) if single else results
        wrapped = tuple(None if r is None else _NotTwiceDifferentiable.apply(
            r, *grads, op=type(self).__name__) for r in results)
        return wrapped[0] if single else wrapped

    return wrapper


class _NotTwiceDifferentiable(Function):
    """Carries a once-differentiable gradient under create_graph; backward is an error."""

    def forward(self, value, *grads, op: str):
        self.op = op
        return value

    def backward(self, *grads):
        raise RuntimeError(f"double backward through {self.op} is not supported: its gradient is "
                           "computed by a kernel that is differentiable only once")
