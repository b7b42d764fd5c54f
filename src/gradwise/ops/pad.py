"""Padding as autograd ops: constant padding, and reflect/replicate/circular as index gathers.

`gradwise.nn.functional.pad` checks the arguments (PyTorch's rules and error cases) and turns
them into per-dim widths; the ops here only compute.

* `ConstantPad`: crop the dims with negative widths, then fill the positive widths with a
  value. Its gradient is the same op with the widths negated and value 0 (crop what was
  added, add zeros where it cropped), so it is differentiable any number of times.
* `IndexPad`: every output position along a padded dim reads one source position, given by
  an index vector (`source_index`), so the forward is one ``np.take`` per padded dim. The
  backward, `IndexPadGrad`, scatters-adds the gradient into the source positions with
  ``np.add.at`` (a border position that is read several times, e.g. by replicate padding,
  receives the sum); its own backward is `IndexPad` again.
"""
from __future__ import annotations

import numpy as np

from gradwise.tensor.function import Function

Widths = tuple[tuple[int, int], ...]  # (before, after) for every dim of the input, (0, 0) when untouched
Plan = tuple[tuple[int, np.ndarray, int], ...]  # (axis, source index per output position, input size)


def source_index(mode: str, size: int, before: int, after: int) -> np.ndarray:
    """For one dim of `size` padded by (before, after): the input position each output position reads.

    Output position j corresponds to input coordinate s = j - before, mapped back into the input:

    * reflect: mirror about the first and last element without repeating them
      (..., 2, 1, [0, 1, ..., n-1], n-2, n-3, ...), i.e. s -> -s and s -> 2(n-1) - s;
    * replicate: clamp to the nearest edge element, s -> clip(s, 0, n-1);
    * circular: wrap around the part of the input that is kept after cropping negative
      widths (as PyTorch does), so the right border continues with the first kept element.

    Negative widths crop, as in PyTorch. Reflection uses the input's own edges, so (-1, 1)
    drops the first element and appends a reflection of the last one.
    """
    out_size = size + before + after
    if mode == "circular":
        start, stop = max(-before, 0), size - max(-after, 0)
        kept = stop - start
        if kept <= 0:
            return np.zeros(0, dtype=np.intp)
        return start + (np.arange(out_size) - max(before, 0)) % kept
    s = np.arange(out_size) - before
    if mode == "reflect":
        s = np.abs(s)
        return np.where(s > size - 1, 2 * (size - 1) - s, s)
    if mode == "replicate":
        return np.clip(s, 0, size - 1)
    raise ValueError(f"source_index: unknown padding mode {mode!r}")


class ConstantPad(Function):
    """Pad with a constant value; negative widths crop."""

    def forward(self, x: np.ndarray, widths: Widths, value: float = 0.0) -> np.ndarray:
        self.widths = widths
        crop = tuple(slice(max(-before, 0), n - max(-after, 0)) for (before, after), n in zip(widths, x.shape))
        grow = [(max(before, 0), max(after, 0)) for before, after in widths]
        return np.pad(x[crop], grow, mode="constant", constant_values=value)

    def backward(self, g):
        # The input's gradient is the interior of g, with zeros where the forward cropped.
        return ConstantPad.apply(g, widths=tuple((-before, -after) for before, after in self.widths), value=0)


class IndexPad(Function):
    """Reflect / replicate / circular padding: gather along each padded dim by its source index."""

    def forward(self, x: np.ndarray, plan: Plan) -> np.ndarray:
        self.plan = plan
        if not plan:
            return x.copy()  # all widths 0: still a new tensor, as PyTorch's
        for axis, index, _ in plan:
            x = np.take(x, index, axis=axis)
        return x

    def backward(self, g):
        return IndexPadGrad.apply(g, plan=self.plan)


class IndexPadGrad(Function):
    """The transpose of `IndexPad`: each output gradient is added into the position it was read from."""

    def forward(self, g: np.ndarray, plan: Plan) -> np.ndarray:
        self.plan = plan
        for axis, index, size in reversed(plan):
            moved = np.moveaxis(g, axis, 0)
            summed = np.zeros((size,) + moved.shape[1:], dtype=g.dtype)
            np.add.at(summed, index, moved)
            g = np.ascontiguousarray(np.moveaxis(summed, 0, axis))
        return g

    def backward(self, gg):
        return IndexPad.apply(gg, plan=self.plan)
