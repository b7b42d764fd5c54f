"""`gradwise.autograd`: gradients on demand (`grad`), `backward`, and the legacy `Variable`."""
from __future__ import annotations


from gradwise.autograd import functional
from gradwise.tensor import engine
from gradwise.tensor.function import Function, once_differentiable
from gradwise.tensor.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from gradwise.tensor.tensor import Tensor, _root_gradient


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool | None = None,
         materialize_grads: bool = False) -> tuple:
    """Return d(outputs)/d(inputs) without touching any `.grad`.

    With ``create_graph=True`` the returned gradients are themselves differentiable, which
    gives second derivatives and Hessian-vector products (``grad(grad(f, x, create_graph=True)
    [0] @ v, x)``).
    """
    outputs, inputs = _as_list(outputs), _as_list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    grad_outputs = _as_list(grad_outputs)
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor) or not x.requires_grad:
            raise RuntimeError(f"autograd.grad: input {i} does not require grad")
    for i, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(f"autograd.grad: output {i} does not require grad and does not have a grad_fn")
    roots = [_root_gradient(o, g, "autograd.grad") for o, g in zip(outputs, grad_outputs)]
    if retain_graph is None:
        retain_graph = create_graph
    results = engine.run_backward(outputs, roots, retain_graph, create_graph, capture=inputs,
                                  allow_unused=bool(allow_unused) or materialize_grads)
    if materialize_grads:
        from gradwise.tensor.creation import zeros_like

        results = [zeros_like(x) if g is None else g for g, x in zip(results, inputs)]
    return tuple(results)


def backward(tensors, grad_tensors=None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
    """Accumulate the gradients of several roots into the leaves' `.grad` in one pass."""
    tensors = _as_list(tensors)
    grad_tensors = _as_list(grad_tensors) if grad_tensors is not None else [None] * len(tensors)
    roots = [_root_gradient(t, g, "backward") for t, g in zip(tensors, grad_tensors)]
    engine.run_backward(tensors, roots, create_graph if retain_graph is None else retain_graph, create_graph)


def Variable(data, requires_grad: bool = False, volatile: bool = False) -> Tensor:
    """The pre-0.4 PyTorch wrapper the lecture uses; today it simply returns a Tensor."""
    if not isinstance(data, Tensor):
        from gradwise.tensor.tensor import tensor

        data = tensor(data)
    out = data.detach() if data.grad_fn is None else data
    if requires_grad and not out.requires_grad:
        out.requires_grad_(True)
    return out


__all__ = ["grad", "backward", "Variable", "Function", "once_differentiable", "functional",
           "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"]
