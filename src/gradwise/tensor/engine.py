"""The backward pass: reverse-mode automatic differentiation over the recorded graph.

`run_backward` visits the graph from the roots to the leaves in reverse topological order,
without recursion (so a chain of 100,000 ops works), using PyTorch's scheme: count, for every
node, how many consumers will send it a gradient; a node runs once all of them have. Each
node's backward maps the gradients of its outputs to gradients of its inputs; the engine sums
gradients arriving at the same place and reduces broadcast gradients to the input's shape.

Leaves accumulate into `.grad` (unless `autograd.grad` asked for the gradients to be
returned instead). Unless `retain_graph`, every node drops what it saved once it has run.
"""
from __future__ import annotations

from typing import Sequence

import sys

import numpy as np

from gradwise.tensor import function, grad_mode


def run_backward(roots: Sequence, root_grads: Sequence, retain_graph: bool, create_graph: bool,
                 capture: Sequence | None = None, allow_unused: bool = False) -> list | None:
    """Back-propagate `root_grads` from `roots`.

    With `capture` (the `inputs` of `autograd.grad`), the gradients reaching those tensors are
    returned in order and no `.grad` is touched.
    """
    from gradwise.ops.reduce import sum_to

    # 1. Dependencies: how many gradient contributions each reachable node waits for.
    dependencies: dict = {}
    stack = [r.grad_fn for r in roots if r.grad_fn is not None]
    seen = set(stack)
    while stack:
        node = stack.pop()
        for edge in node.edges:
            if type(edge) is tuple:
                child = edge[0]
                dependencies[child] = dependencies.get(child, 0) + 1
                if child not in seen:
                    seen.add(child)
                    stack.append(child)

    captured: dict = {}
    leaf_slots: dict = {}
    node_slots: dict = {}
    if capture is not None:
        for i, t in enumerate(capture):
            if t.grad_fn is None:
                leaf_slots[id(t)] = i
            else:
                node_slots[(t.grad_fn, t._output_nr)] = i

    accumulator = _LeafAccumulator(create_graph)
    for g in root_grads:
        accumulator.mark_foreign(g._data)

    def deliver_to_leaf(leaf, g):
        if capture is not None:
            slot = leaf_slots.get(id(leaf))
            if slot is not None:
                captured[slot] = g if slot not in captured else captured[slot] + g
            return
        accumulator.add(leaf, g)

    buffers: dict = {}
    ready = []
    for root, g in zip(roots, root_grads):
        node = root.grad_fn
        if node is None:
            deliver_to_leaf(root, g)
            continue
        _add_to_buffer(buffers, node, root._output_nr, g)
    for root in roots:
        node = root.grad_fn
        if node is not None and dependencies.get(node, 0) == 0 and node not in ready:
            ready.append(node)

    previous_mode = grad_mode._GradMode.enabled
    grad_mode._GradMode.enabled = create_graph
    try:
        while ready:
            node = ready.pop()
            grads = buffers.pop(node, None)
            in_grads = None
            if grads is not None:
                if node.tensor_hooks:
                    grads = _run_tensor_hooks(node, grads)
                if node_slots:
                    for nr, g in enumerate(grads):
                        slot = node_slots.get((node, nr))
                        if slot is not None and g is not None:
                            captured[slot] = g
                single = node.n_outputs == 1
                if (grads[0] is not None) if single else any(g is not None for g in grads):
                    if not single:
                        grads = [g if g is not None else _tensor(np.zeros(shape, dtype))
                                 for g, (shape, dtype) in zip(grads, node.out_meta)]
                    in_grads = node.backward(*grads)
                    if type(in_grads) is not tuple:
                        in_grads = (in_grads,)
            if not retain_graph:
                node.release()
            for i, edge in enumerate(node.edges):
                if edge is None:
                    continue
                g = in_grads[i] if in_grads is not None else None
                if g is not None and not g.is_sparse:  # a sparse gradient is already exact
                    shape, dtype = node.input_meta[i]
                    if g._data.shape != shape:
                        g = sum_to(g, shape)
                    if g._data.dtype != dtype and dtype.kind == "f":
                        g = g.to(dtype)
                if type(edge) is tuple:
                    child, nr = edge
                    if g is not None:
                        _add_to_buffer(buffers, child, nr, g)
                    remaining = dependencies[child] - 1
                    dependencies[child] = remaining
                    if remaining == 0:
                        ready.append(child)
                elif g is not None:
                    deliver_to_leaf(edge, g)
    finally:
        grad_mode._GradMode.enabled = previous_mode

    if capture is None:
        return None
    results = []
    for i, t in enumerate(capture):
        g = captured.get(i)
        if g is None and not allow_unused:
            raise RuntimeError(
                f"autograd.grad: input {i} (shape {tuple(t.shape)}) was not used to compute the "
                "outputs (its gradient is undefined). Pass allow_unused=True to get None for it.")
        if g is not None and not create_graph:
            g = g.detach()
        results.append(g)
    return results


def _add_to_buffer(buffers: dict, node, output_nr: int, g) -> None:
    slots = buffers.get(node)
    if slots is None:
        slots = [None] * node.n_outputs
        buffers[node] = slots
    slots[output_nr] = g if slots[output_nr] is None else slots[output_nr] + g


def _run_tensor_hooks(node, grads: list) -> list:
    grads = list(grads)
    for nr, hooks in node.tensor_hooks.items():
        if grads[nr] is None:
            continue
        for hook in hooks:
            result = hook(grads[nr])
            if result is not None:
                grads[nr] = result
    return grads


class _LeafAccumulator:
    """Adds incoming gradients into leaves' `.grad` the way PyTorch's AccumulateGrad does.

    The first gradient is stored without a copy when the array is one nobody else holds
    (a fresh result owning its memory); otherwise it is copied, so that `.grad` never aliases
    another tensor's gradient or a user's array. Later gradients are added in place into
    arrays gradwise owns, so a `.grad` the user holds stays current.
    """

    def __init__(self, create_graph: bool) -> None:
        self.create_graph = create_graph
        self.stored: dict[int, np.ndarray] = {}  # arrays handed out during this pass, by id

    def mark_foreign(self, array: np.ndarray) -> None:
        self.stored[id(array)] = array

    def add(self, leaf, g) -> None:
        if leaf._hooks:
            for hook in leaf._hooks:
                result = hook(g)
                if result is not None:
                    g = result
        if self.create_graph:
            leaf._grad = g if leaf._grad is None else leaf._grad + g
            return
        if g.is_sparse or (leaf._grad is not None and leaf._grad.is_sparse):
            g = self._add_sparse(leaf, g)
            if g is None:
                return
        array = g._data
        if leaf._grad is None:
            borrowed = array.flags.owndata and array.flags.writeable and id(array) not in self.stored
            if not borrowed:
                array = array.copy()
            self.stored[id(array)] = array
            grad = _tensor(array)
            grad._borrowed = borrowed
            leaf._grad = grad
            return
        current = leaf._grad
        if current._data.shape != array.shape:
            raise RuntimeError(
                f"backward: cannot accumulate a gradient of shape {array.shape} into .grad of shape "
                f"{current._data.shape} (leaf of shape {tuple(leaf.shape)})")
        if current._borrowed and id(current._data) not in self.stored and sys.getrefcount(current._data) <= 2:
            # Nobody but this .grad holds the array (the tensor's own slot and the call's argument
            # are the two references): it is ours to update in place, so a .grad the user holds
            # (or assigned) stays current, as torch's AccumulateGrad does.
            current._borrowed = False
        if current._borrowed or current.grad_fn is not None or not current._data.flags.writeable:
            fresh = _tensor(current._data + array)
            fresh._borrowed = False
            self.stored[id(fresh._data)] = fresh._data
            leaf._grad = fresh
        else:
            np.add(current._data, array, out=current._data, casting="unsafe")
            current._version.value += 1

    @staticmethod
    def _add_sparse(leaf, g):
        """Sparse gradients (Embedding(sparse=True)) are kept sparse: the first is stored as-is,
        a later sparse one is concatenated (indices and values). Mixed with a dense gradient the
        sum is dense: returns the dense gradient still to be added, or None when done."""
        current = leaf._grad
        if current is None or (current.is_sparse and g.is_sparse):
            leaf._grad = g if current is None else current + g
            return None
        if current.is_sparse:  # sparse .grad + dense g: a fresh dense .grad
            fresh = _tensor(current._data + g._data)
            leaf._grad = fresh
            return None
        return _tensor(g._data)  # dense .grad + sparse g: add its dense form below


def _tensor(array: np.ndarray):
    """A Tensor around ``array`` (the class is bound late in ``function``: no import cycle)."""
    return function.Tensor._make(array)
