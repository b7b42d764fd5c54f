"""2-D max and average pooling kernels on plain NumPy arrays (no autograd).

Semantics are exactly those of ``torch.nn.functional.max_pool2d`` and
``avg_pool2d`` (output size with ``ceil_mode``, the "window must start
inside the input or left padding" rule, padding limited to half the kernel,
``count_include_pad``, ``divisor_override``).  The caller resolves
``stride=None`` to ``kernel_size`` as PyTorch does; ``None`` is accepted
here too.

How it is computed:

* A window of ``kH x kW`` elements is visited as ``kH*kW`` *offset views*:
  for offset ``(i, j)`` the view ``x[:, :, i*d :: s, j*d :: s]`` (trimmed to
  the output size) holds that window element for every output position at
  once.  Reductions are then a few whole-array ufunc calls per offset
  (4 for the usual 2x2), never a loop over pixels.
* Fast path, the common non-overlapping case (kernel == stride, no
  padding, dilation 1, sizes divisible): the offset views come from a free
  ``reshape`` to ``(N, C, H/kH, kH, W/kW, kW)``, nothing is padded, and the
  backward pass writes every input position exactly once (no zero fill and
  accumulate).
* General case: one padded copy (``-inf`` for max, ``0`` for average) just
  large enough for the windows, then the same offset views.
* Layouts are preserved: outputs and input gradients are allocated in the
  memory order of the input (e.g. the channel- or batch-major buffers the
  convolution kernels return), so no hidden transposing copies occur.
* Max-pool ties: the gradient goes to the *first* maximal element of the
  window in row-major order, as PyTorch's CPU kernel does (it updates on
  ``val > max`` only).  NaN propagates to the output and the gradient goes
  to the window's last NaN, also as in PyTorch.  The winning offset is kept
  as a ``uint8`` index (``kH*kW <= 256``; wider types beyond), 1/4 of the
  output's float32 bytes, so the context never holds the input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "MaxPool2dContext",
    "AvgPool2dContext",
    "pool2d_output_size",
    "max_pool2d_forward",
    "max_pool2d_backward",
    "max_pool2d_gather",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
    "avg_pool2d_window_mean",
]

IntPair = tuple[int, int]


def _pair(value: int | tuple[int, int] | list[int], name: str, op: str) -> IntPair:
    """Normalise an int or a 2-sequence to a pair of Python ints."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    pair = tuple(int(v) for v in value)
    if len(pair) != 2:
        raise ValueError(f"{op}: {name} must be an int or a pair, got {value!r}")
    return pair  # type: ignore[return-value]


def pool2d_output_size(
    in_size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool
) -> int:
    """Output length along one axis, PyTorch's ``pooling_output_shape``.

    With ``ceil_mode`` the division rounds up, but a last window that would
    start beyond the input plus left padding is dropped.
    """
    numerator = in_size + 2 * padding - dilation * (kernel - 1) - 1
    if ceil_mode:
        numerator += stride - 1
    out = numerator // stride + 1
    if ceil_mode and (out - 1) * stride >= in_size + padding:
        out -= 1
    return out


@dataclass(frozen=True)
class _Geometry:
    """Resolved pooling geometry shared by forward and backward."""

    x_shape: tuple[int, int, int, int]
    layout: tuple[int, int, int, int]  # axis order of the input's memory, slowest first
    kernel: IntPair
    stride: IntPair
    padding: IntPair
    dilation: IntPair
    out_hw: IntPair

    @property
    def fast(self) -> bool:
        """Non-overlapping windows that tile the input exactly."""
        (kh, kw), (sh, sw) = self.kernel, self.stride
        h, w = self.x_shape[2:]
        return (
            (kh, kw) == (sh, sw)
            and self.padding == (0, 0)
            and self.dilation == (1, 1)
            and h % kh == 0
            and w % kw == 0
        )

    @property
    def extent(self) -> IntPair:
        """Rows/columns of the padded input that the windows actually cover."""
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.stride, self.dilation
        ho, wo = self.out_hw
        return (ho - 1) * sh + dh * (kh - 1) + 1, (wo - 1) * sw + dw * (kw - 1) + 1


def _memory_order(x: np.ndarray) -> tuple[int, int, int, int]:
    """Axes of ``x`` from largest to smallest stride (ties keep axis order)."""
    order = sorted(range(4), key=lambda ax: -abs(x.strides[ax]))
    return tuple(order)  # type: ignore[return-value]


def _alloc(
    shape: tuple[int, ...], layout: tuple[int, ...], dtype: np.dtype, fill: float | None
) -> np.ndarray:
    """Array of logical ``shape`` whose memory follows ``layout`` (see ``_memory_order``)."""
    mem_shape = tuple(shape[ax] for ax in layout)
    if fill is None:
        mem = np.empty(mem_shape, dtype=dtype)
    elif fill == 0:
        mem = np.zeros(mem_shape, dtype=dtype)
    else:
        mem = np.full(mem_shape, fill, dtype=dtype)
    return mem.transpose(np.argsort(layout))


def _geometry(
    op: str,
    x: np.ndarray,
    kernel_size: int | IntPair,
    stride: int | IntPair | None,
    padding: int | IntPair,
    dilation: int | IntPair,
    ceil_mode: bool,
) -> _Geometry:
    """Validate arguments like PyTorch does and resolve the output size."""
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape}")
    kernel = _pair(kernel_size, "kernel_size", op)
    if stride is None or (not isinstance(stride, (int, np.integer)) and len(stride) == 0):
        stride = kernel  # PyTorch: stride defaults to kernel_size (None or [])
    else:
        stride = _pair(stride, "stride", op)
    padding = _pair(padding, "padding", op)
    dilation = _pair(dilation, "dilation", op)
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(
            f"{op}: need kernel_size, stride, dilation >= 1 and padding >= 0, got "
            f"kernel_size={kernel}, stride={stride}, padding={padding}, dilation={dilation}"
        )
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(
            f"{op}: padding {padding} must be at most half the kernel size {kernel}"
        )
    h, w = x.shape[2:]
    out_hw = (
        pool2d_output_size(h, kernel[0], stride[0], padding[0], dilation[0], ceil_mode),
        pool2d_output_size(w, kernel[1], stride[1], padding[1], dilation[1], ceil_mode),
    )
    if min(out_hw) < 1:
        raise ValueError(
            f"{op}: input {x.shape} is too small for kernel_size={kernel}, "
            f"dilation={dilation}, padding={padding} (output size would be {out_hw})"
        )
    return _Geometry(tuple(x.shape), _memory_order(x), kernel, stride, padding, dilation, out_hw)


def _offset_views(xp: np.ndarray, geo: _Geometry) -> list[np.ndarray]:
    """One ``(N, C, H_out, W_out)`` view per window offset, row-major order.

    ``xp`` is the input itself on the fast path (split by ``reshape``) or the
    padded buffer otherwise (strided slices).  No data is copied.
    """
    (kh, kw), (sh, sw), (dh, dw) = geo.kernel, geo.stride, geo.dilation
    ho, wo = geo.out_hw
    if geo.fast:
        n, c = xp.shape[:2]
        tiles = xp.reshape(n, c, ho, kh, wo, kw)
        return [tiles[:, :, :, i, :, j] for i in range(kh) for j in range(kw)]
    h_span, w_span = sh * (ho - 1) + 1, sw * (wo - 1) + 1
    return [
        xp[:, :, i * dh : i * dh + h_span : sh, j * dw : j * dw + w_span : sw]
        for i in range(kh)
        for j in range(kw)
    ]


def _pad_for_windows(x: np.ndarray, geo: _Geometry, fill: float) -> np.ndarray:
    """Copy ``x`` into a ``fill``-padded buffer covering exactly the windows' extent.

    The extent may be shorter than the padded input (trailing rows no window
    reaches) or longer (``ceil_mode`` windows hanging over the edge, which
    PyTorch clips; the fill value makes them harmless).
    """
    n, c, h, w = x.shape
    (ph, pw) = geo.padding
    eh, ew = geo.extent
    xp = _alloc((n, c, eh, ew), geo.layout, x.dtype, fill)
    hc, wc = min(h, eh - ph), min(w, ew - pw)
    xp[:, :, ph : ph + hc, pw : pw + wc] = x[:, :, :hc, :wc]
    return xp


def _unpad_gradient(dxp: np.ndarray, geo: _Geometry) -> np.ndarray:
    """Gradient on the padded buffer -> gradient on the input (view when possible)."""
    n, c, h, w = geo.x_shape
    (ph, pw) = geo.padding
    eh, ew = geo.extent
    hc, wc = min(h, eh - ph), min(w, ew - pw)
    if hc == h and wc == w:
        return dxp[:, :, ph : ph + h, pw : pw + w]
    dx = _alloc(geo.x_shape, geo.layout, dxp.dtype, 0)
    dx[:, :, :hc, :wc] = dxp[:, :, ph : ph + hc, pw : pw + wc]
    return dx


# --------------------------------------------------------------------------
# max pooling
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class MaxPool2dContext:
    """Backward state: the winning window offset per output, plus geometry."""

    index: np.ndarray  # (N, C, H_out, W_out) offset i*kW + j of the max, unsigned ints
    geometry: _Geometry


def _first_max_index(views: list[np.ndarray], out: np.ndarray) -> np.ndarray:
    """Offset of the first element equal to the window max, for every window.

    With ``miss_o = (view_o != max)`` the first-hit offset is
    ``miss_0 * (1 + miss_1 * (1 + ... * (1 + miss_{K-2})))``: each factor is
    0 as soon as an offset hits.  Evaluated inside out with in-place integer
    ops, this avoids masked assignments (which measured 3-5x slower).
    """
    count = len(views)
    dtype = np.uint8 if count <= 256 else (np.uint16 if count <= 65536 else np.uint32)
    if count == 1:
        return np.zeros_like(out, dtype=dtype)
    index = np.not_equal(views[count - 2], out).astype(dtype)
    for o in range(count - 3, -1, -1):
        index += 1
        index *= np.not_equal(views[o], out)
    return index


def max_pool2d_forward(
    x: np.ndarray,
    kernel_size: int | IntPair,
    stride: int | IntPair | None = None,
    padding: int | IntPair = 0,
    dilation: int | IntPair = 1,
    ceil_mode: bool = False,
) -> tuple[np.ndarray, MaxPool2dContext]:
    """Max pooling, exactly ``torch.nn.functional.max_pool2d``.

    Args:
        x: ``(N, C, H, W)``, any strides, float dtype (preserved).
        kernel_size, stride, padding, dilation: int or pair; ``stride=None``
            means ``kernel_size``.  Padding counts as ``-inf``.
        ceil_mode: round the output size up (PyTorch's rule).

    Returns:
        ``(out, ctx)``; ``out`` has ``x``'s dtype and memory order.
    """
    geo = _geometry("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    xp = x if geo.fast else _pad_for_windows(x, geo, -np.inf)
    views = _offset_views(xp, geo)
    if len(views) == 1:
        out = np.array(views[0], order="K")
    else:
        out = np.maximum(views[0], views[1])  # NaN propagates, as in PyTorch
        for view in views[2:]:
            np.maximum(out, view, out=out)
    index = _first_max_index(views, out)
    nan_windows = np.isnan(out)
    if nan_windows.any():
        # PyTorch takes `val > max || isnan(val)`: the last NaN wins.
        for o, view in enumerate(views):
            index[nan_windows & np.isnan(view)] = o
    return out, MaxPool2dContext(index, geo)


def max_pool2d_backward(grad_out: np.ndarray, ctx: MaxPool2dContext) -> np.ndarray:
    """Gradient of max pooling: each output's gradient goes to its window's argmax.

    Returns ``dx`` with the forward input's shape, dtype of ``grad_out`` and
    the forward input's memory order.  Where windows overlap, contributions
    to one input element are summed (as PyTorch does).

    Note: ``grad * (index == o)`` is used to select; a NaN in ``grad_out``
    therefore spreads to the whole window (PyTorch would leave 0 on the
    non-max elements).  Only already-NaN gradients are affected.
    """
    geo = ctx.geometry
    if grad_out.shape != ctx.index.shape:
        raise ValueError(
            f"max_pool2d: grad_out shape {grad_out.shape} does not match the "
            f"forward output shape {ctx.index.shape}"
        )
    if geo.fast:
        dx = _alloc(geo.x_shape, geo.layout, grad_out.dtype, None)
        for o, target in enumerate(_offset_views(dx, geo)):
            np.multiply(grad_out, ctx.index == o, out=target)
        return dx
    n, c = geo.x_shape[:2]
    dxp = _alloc((n, c, *geo.extent), geo.layout, grad_out.dtype, 0)
    for o, target in enumerate(_offset_views(dxp, geo)):
        target += grad_out * (ctx.index == o)
    return _unpad_gradient(dxp, geo)


def max_pool2d_gather(grad_in: np.ndarray, ctx: MaxPool2dContext) -> np.ndarray:
    """The adjoint of :func:`max_pool2d_backward`: pick, for every window, the value of an
    input-shaped array at the position where the forward found the window's max.

    ``max_pool2d_backward`` is linear in ``grad_out`` (a scatter to the saved argmax); this
    gather is its transpose, hence the backward of the backward (double backward), and the
    scatter is in turn the gather's backward.  ``kH*kW`` masked copies over whole offset
    views, no loop over pixels.  Returns ``(N, C, H_out, W_out)`` in ``grad_in``'s dtype.
    """
    geo = ctx.geometry
    if grad_in.shape != geo.x_shape:
        raise ValueError(
            f"max_pool2d double backward: gradient shape {grad_in.shape} does not match the "
            f"forward input shape {geo.x_shape}"
        )
    gp = grad_in if geo.fast else _pad_for_windows(grad_in, geo, 0.0)
    out = _alloc(ctx.index.shape, geo.layout, grad_in.dtype, 0)
    for o, view in enumerate(_offset_views(gp, geo)):
        np.copyto(out, view, where=ctx.index == o)  # exact: no NaN spreading from other offsets
    return out


# --------------------------------------------------------------------------
# average pooling
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class AvgPool2dContext:
    """Backward state: the divisor used per output position, plus geometry."""

    divisor: np.ndarray | float  # scalar, or (H_out, W_out) broadcastable array
    geometry: _Geometry


def _window_counts(
    size: int, out: int, kernel: int, stride: int, padding: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per output position along one axis: window length counting padding, and without.

    PyTorch clips a window at ``size + padding`` before counting padding
    (so ``ceil_mode`` overhang past the right padding never counts) and at
    ``[0, size)`` for the count without padding.
    """
    start = np.arange(out) * stride - padding
    end = np.minimum(start + kernel, size + padding)
    with_pad = end - start
    without_pad = np.minimum(end, size) - np.maximum(start, 0)
    return with_pad, without_pad


def avg_pool2d_forward(
    x: np.ndarray,
    kernel_size: int | IntPair,
    stride: int | IntPair | None = None,
    padding: int | IntPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> tuple[np.ndarray, AvgPool2dContext]:
    """Average pooling, exactly ``torch.nn.functional.avg_pool2d``.

    Args:
        x: ``(N, C, H, W)``, any strides, float dtype (preserved).
        kernel_size, stride, padding: int or pair; ``stride=None`` means
            ``kernel_size``.  Padding counts as zeros.
        ceil_mode: round the output size up (PyTorch's rule).
        count_include_pad: divide by the window size including zero padding
            (PyTorch's default) or only by the number of real elements.
        divisor_override: if given, divide every window sum by it.

    Returns:
        ``(out, ctx)``; ``out`` has ``x``'s dtype and memory order.
    """
    geo = _geometry("avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        if divisor_override == 0:
            raise ValueError("avg_pool2d: divisor_override must be non-zero")
        divisor: np.ndarray | float = float(divisor_override)
    else:
        per_axis = [
            _window_counts(size, out, k, s, p)
            for size, out, k, s, p in zip(
                x.shape[2:], geo.out_hw, geo.kernel, geo.stride, geo.padding
            )
        ]
        pick = 0 if count_include_pad else 1
        rows, cols = per_axis[0][pick], per_axis[1][pick]
        counts = np.multiply.outer(rows, cols)
        if (counts == counts.flat[0]).all():
            divisor = float(counts.flat[0])
        else:
            divisor = counts.astype(x.dtype)
    xp = x if geo.fast else _pad_for_windows(x, geo, 0.0)
    views = _offset_views(xp, geo)
    out = np.array(views[0], order="K") if len(views) == 1 else np.add(views[0], views[1])
    for view in views[2:]:
        out += view
    out /= divisor
    return out, AvgPool2dContext(divisor, geo)


def avg_pool2d_backward(grad_out: np.ndarray, ctx: AvgPool2dContext) -> np.ndarray:
    """Gradient of average pooling: ``grad / divisor`` spread over each window.

    Returns ``dx`` with the forward input's shape and memory order.
    """
    geo = ctx.geometry
    expected = (*geo.x_shape[:2], *geo.out_hw)
    if grad_out.shape != expected:
        raise ValueError(
            f"avg_pool2d: grad_out shape {grad_out.shape} does not match the "
            f"forward output shape {expected}"
        )
    share = grad_out / ctx.divisor
    if geo.fast:
        dx = _alloc(geo.x_shape, geo.layout, share.dtype, None)
        for target in _offset_views(dx, geo):
            target[...] = share
        return dx
    n, c = geo.x_shape[:2]
    dxp = _alloc((n, c, *geo.extent), geo.layout, share.dtype, 0)
    for target in _offset_views(dxp, geo):
        target += share
    return _unpad_gradient(dxp, geo)


def avg_pool2d_window_mean(grad_in: np.ndarray, ctx: AvgPool2dContext) -> np.ndarray:
    """The adjoint of :func:`avg_pool2d_backward`: every window's sum divided by the divisor
    the forward used, i.e. the forward average pooling with the saved geometry and divisor.

    ``avg_pool2d_backward`` is linear; this is its transpose and so its backward (double
    backward), and vice versa.  Returns ``(N, C, H_out, W_out)`` in ``grad_in``'s dtype.
    """
    geo = ctx.geometry
    if grad_in.shape != geo.x_shape:
        raise ValueError(
            f"avg_pool2d double backward: gradient shape {grad_in.shape} does not match the "
            f"forward input shape {geo.x_shape}"
        )
    gp = grad_in if geo.fast else _pad_for_windows(grad_in, geo, 0.0)
    views = _offset_views(gp, geo)
    out = np.array(views[0], order="K") if len(views) == 1 else np.add(views[0], views[1])
    for view in views[2:]:
        out += view
    out /= ctx.divisor
    return out
