"""2-D convolution kernels on plain NumPy arrays (no autograd here).

These are the numeric cores that the autograd ``Function`` classes wrap.
Inputs and outputs use PyTorch's NCHW layout and weight layout
``(C_out, C_in // groups, kH, kW)``; the semantics (zero padding on each
side, stride, dilation, groups, output size) are exactly those of
``torch.nn.functional.conv2d``.

How it is made fast (each choice measured on the 2-core benchmark machine
against PyTorch CPU; see ``bench/conv_kernels.py``):

* **GEMMs, not loops.**  The input is unfolded ("im2col") into a matrix
  ``cols`` of shape ``(kH*kW*C_in, pixels)`` (``pixels = N*H_out*W_out``)
  and the convolution is ``W_mat @ cols``.  The weight gradient is
  ``G @ cols.T`` and the unfolded input gradient is ``W_mat.T @ G``.  All
  are BLAS calls on 2-D operands (``np.matmul`` on ``(groups, ., .)``
  stacks: one GEMM per group, and for ``groups=1`` simply one GEMM).
* **Unfold layout.**  The unfold is the one big copy (``kH*kW`` times the
  input).  Its rows are ordered ``(kH, kW, C)`` and its columns (pixels)
  follow the input's memory: ``(N, H_out, W_out)`` for ordinary NCHW
  memory, where the innermost copied run is an image row, or
  ``(H_out, W_out, N)`` for batch-innermost memory, where it is a row of
  all images at once.  Either measured ~4x faster than the textbook
  ``(N, H_out, W_out, C, kH, kW)`` order, whose inner run is 5 floats.
  Inputs with short rows (``W_out < 16``) are transposed once into
  batch-innermost memory, which made the CIFAR net's second layer's
  unfold ~3x and its col2im ~2.5x faster (see ``_prepare_input``).
  Windows come from ``sliding_window_view`` (a view), so the reshape into
  ``cols`` is the only copy.
* **Unfold in cache-sized pieces.**  ``cols`` is built and consumed by the
  GEMM in ~512 KiB pieces (contiguous column ranges), so it is read back
  from cache, not DRAM: the first layer's forward got ~20% faster.
* **No transpose of the result.**  The GEMM yields ``(C_out, pixels)``.
  The output is returned as an NCHW-shaped *view* of that buffer, i.e. in
  ``(C, N, H, W)`` or ``(C, H, W, N)`` memory, not C-contiguous.  NumPy
  ufuncs preserve that layout, the next unfold reads it fast, and the
  backward pass gets its gradient in the same layout, so ``G`` is a free
  reshape.  Callers must not assume C-contiguity (NumPy never needs it).
* **Small context.**  Backward keeps the prepared input (a view of ``x``,
  or the one padded/transposed copy the forward made) and a reference to
  ``w``, plus a few ints.  ``cols`` (``kH*kW`` times the input, 15 MB for
  the CIFAR net's first layer at batch 64) is rebuilt piecewise in
  backward when the weight gradient is needed, instead of being kept.
* **Input gradient by "col2im", not by a transposed convolution.**  The
  input gradient of a convolution is itself a convolution: ``grad_out``
  zero-dilated by the stride, padded by ``dilation*(k-1) - padding`` and
  correlated with the spatially flipped weights, in/out channels swapped.
  Computed that way it needs no scatter, but its unfold has
  ``C_out*kH*kW`` rows over the *input*'s pixels: for the CIFAR net's
  second layer that is 5x the data of the forward unfold (and with stride
  2, three quarters of it are the inserted zeros); it measured 2.5x slower.
  Instead the unfolded gradient ``W_mat.T @ G`` (same size as ``cols``) is
  folded back with ``kH*kW`` strided in-place adds, one per kernel offset,
  each over a whole ``(C, N, H_out, W_out)`` block.  That is a Python loop
  over kernel offsets only (25 iterations for 5x5), never over pixels or
  batch items.  (Fusing one small GEMM into each offset's add measured
  ~35% slower than one GEMM followed by the adds.)
* dtype is preserved: float32 stays float32 throughout (no upcasts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "Conv2dContext",
    "conv2d_output_size",
    "conv2d_forward",
    "conv2d_backward",
    "conv2d_weight_grad",
    "conv_transpose2d_output_size",
    "conv_transpose2d_forward",
]

IntPair = tuple[int, int]


def _pair(value: int | tuple[int, int] | list[int], name: str) -> IntPair:
    """Normalise an int or a 2-sequence to a pair of Python ints."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    pair = tuple(int(v) for v in value)
    if len(pair) != 2:
        raise ValueError(f"conv2d: {name} must be an int or a pair, got {value!r}")
    return pair  # type: ignore[return-value]


def conv2d_output_size(
    in_size: int, kernel: int, stride: int, padding: int, dilation: int
) -> int:
    """Output length along one spatial axis, PyTorch's formula.

    ``floor((in + 2*padding - dilation*(kernel-1) - 1) / stride) + 1``.
    May be <= 0 when the (dilated) kernel does not fit; callers check.
    """
    return (in_size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@dataclass(frozen=True)
class Conv2dContext:
    """What :func:`conv2d_backward` needs; deliberately small.

    ``xp`` is the prepared (padded) input, logical shape ``(C, N, Hp, Wp)``:
    a view of the caller's ``x`` when no copy was needed, otherwise the one
    copy the forward pass made anyway (input size, about ``1/(kH*kW)`` of
    the unfold that is rebuilt from it).  ``batch_inner`` records the pixel
    order chosen for it.  ``w`` is a reference to the caller's weight.
    """

    xp: np.ndarray | None  # None in the transposed convolution's fold-only context
    batch_inner: bool
    w: np.ndarray
    x_shape: tuple[int, int, int, int]
    stride: IntPair
    padding: IntPair
    dilation: IntPair
    groups: int
    out_hw: IntPair


def _check_shapes(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: IntPair,
    padding: IntPair,
    dilation: IntPair,
    groups: int,
) -> IntPair:
    """Validate shapes/dtypes and return ``(H_out, W_out)``.

    Raises ``ValueError`` naming conv2d and the shapes rather than letting a
    bad combination produce a silently wrong (or oddly shaped) result.
    """
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(
            f"conv2d: expected 4-D input (N, C, H, W) and 4-D weight "
            f"(C_out, C_in/groups, kH, kW), got input {x.shape} and weight {w.shape}"
        )
    if groups < 1:
        raise ValueError(f"conv2d: groups must be >= 1, got {groups}")
    n, c, h, wd = x.shape
    c_out, c_in_g, kh, kw = w.shape
    if c != c_in_g * groups or c_out % groups != 0:
        raise ValueError(
            f"conv2d: input {x.shape} with {c} channels does not fit weight "
            f"{w.shape} with groups={groups} (need C_in == weight.shape[1]*groups "
            f"and C_out divisible by groups)"
        )
    if b is not None and b.shape != (c_out,):
        raise ValueError(f"conv2d: bias shape {b.shape} must be ({c_out},) for weight {w.shape}")
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(
            f"conv2d: need stride >= 1, dilation >= 1, padding >= 0; got "
            f"stride={stride}, padding={padding}, dilation={dilation}"
        )
    for arr, what in ((w, "weight"), (b, "bias")):
        if arr is not None and arr.dtype != x.dtype:
            raise ValueError(
                f"conv2d: {what} dtype {arr.dtype} differs from input dtype {x.dtype}"
            )
    h_out = conv2d_output_size(h, kh, stride[0], padding[0], dilation[0])
    w_out = conv2d_output_size(wd, kw, stride[1], padding[1], dilation[1])
    if h_out < 1 or w_out < 1:
        raise ValueError(
            f"conv2d: kernel {(kh, kw)} with dilation {dilation} is larger than the "
            f"padded input {(h + 2 * padding[0], wd + 2 * padding[1])} "
            f"(input {x.shape}, padding {padding})"
        )
    return h_out, w_out


# Output rows shorter than this are unfolded from a batch-innermost copy of
# the input (see _prepare_input).  Measured on the CIFAR net's layers: with
# 10-pixel rows the batch-innermost unfold and fold are ~3x faster and pay
# for the transposing copy many times over; with 28-pixel rows the copy
# (slowed by cache-set aliasing for power-of-two image sizes) costs more
# than the unfold gains.
_SHORT_ROW = 16


def _batch_innermost(x: np.ndarray) -> bool:
    """True if ``x``'s memory runs over the batch fastest (``(C, H, W, N)``-like)."""
    return x.shape[0] > 1 and abs(x.strides[0]) < abs(x.strides[3])


def _prepare_input(x: np.ndarray, padding: IntPair, w_out: int) -> tuple[np.ndarray, bool]:
    """Zero-pad ``x`` and pick the pixel order of the unfolded matrix.

    Returns ``(xp, batch_inner)``: ``xp`` has the logical shape
    ``(C, N, H+2ph, W+2pw)`` (a transposed view of ``x`` when possible) and
    ``batch_inner`` says whether the GEMM's pixel axis is ordered
    ``(H, W, N)`` (True) or ``(N, H, W)`` (False).

    The unfold copy is fastest when its innermost run is long and contiguous
    in memory.  With batch-innermost memory (the layout our own outputs
    have when ``batch_inner`` was used) one run is ``W_out*N`` values; with
    ordinary NCHW memory it is one image row of ``W_out`` values.  So:

    * ``x`` already batch-innermost: keep that order (free view).
    * rows long (``W_out >= _SHORT_ROW``): keep ``x``'s batch-outer order,
      no transposition.
    * rows short: transpose once into ``(C, H, W, N)`` memory; the unfold,
      the fold and the backward unfold all run on it.

    Padding needs one copy in any case; it is made directly in the chosen
    layout (cheaper than ``np.pad``).
    """
    ph, pw = padding
    batch_inner = _batch_innermost(x) or w_out < _SHORT_ROW
    x_cn = x.transpose(1, 0, 2, 3)  # logical (C, N, H, W)
    no_copy_needed = ph == 0 and pw == 0 and (not batch_inner or _batch_innermost(x))
    if no_copy_needed:
        return x_cn, batch_inner
    n, c, h, w = x.shape
    hp, wp = h + 2 * ph, w + 2 * pw
    alloc = np.zeros if (ph or pw) else np.empty  # only padding needs the zeros
    if batch_inner:
        xp = alloc((c, hp, wp, n), dtype=x.dtype).transpose(0, 3, 1, 2)
    else:
        xp = alloc((c, n, hp, wp), dtype=x.dtype)
    xp[:, :, ph : ph + h, pw : pw + w] = x_cn
    return xp, batch_inner


def _pixel_axes(batch_inner: bool) -> tuple[int, int, int]:
    """Positions of (N, H, W) axes, in GEMM pixel order, within an (N, H, W) triple."""
    return (1, 2, 0) if batch_inner else (0, 1, 2)


# Size of one piece of the unfolded input.  The unfold is produced and
# consumed by the GEMM piece by piece so that each piece is still in cache
# when the GEMM reads it; a whole unfold (15 MB for the CIFAR net's first
# layer at batch 64) would be written to and read back from DRAM.  Measured
# on the 2-core benchmark machine (512 KiB L2 per core, 1 BLAS thread, CPU
# time): 512 KiB pieces made that layer's forward ~20% and its weight
# gradient ~10% faster than one whole unfold; 2 MiB pieces were slower than
# no chunking at all, 256 KiB no better than 512 KiB.
_CHUNK_BYTES = 1 << 19


def _window_view(
    xp: np.ndarray,
    batch_inner: bool,
    kernel: IntPair,
    stride: IntPair,
    dilation: IntPair,
    groups: int,
    out_hw: IntPair,
) -> np.ndarray:
    """The unfolded input as a strided view ``(G, kH, kW, C_g, P0, P1, P2)``.

    ``xp`` is the prepared logical ``(C, N, Hp, Wp)`` input; ``(P0, P1, P2)``
    are the output-pixel axes in GEMM order: ``(H_out, W_out, N)`` if
    ``batch_inner`` else ``(N, H_out, W_out)``.  Element
    ``[g, i, j, c, ...]`` is input channel ``g*C_g + c`` at kernel offset
    ``(i, j)`` of that output pixel.  Built from ``sliding_window_view``
    by slicing and transposing only: nothing is copied yet.
    """
    kh, kw = kernel
    sh, sw = stride
    dh, dw = dilation
    h_out, w_out = out_hw
    c, n = xp.shape[:2]
    span_h = dh * (kh - 1) + 1
    span_w = dw * (kw - 1) + 1
    win = sliding_window_view(xp, (span_h, span_w), axis=(2, 3))
    # (C, N, Hp-span_h+1, Wp-span_w+1, span_h, span_w) -> apply stride/dilation
    win = win[:, :, : sh * (h_out - 1) + 1 : sh, : sw * (w_out - 1) + 1 : sw, ::dh, ::dw]
    win = win.reshape(groups, c // groups, n, h_out, w_out, kh, kw)
    pix = tuple(2 + a for a in _pixel_axes(batch_inner))
    return win.transpose(0, 5, 6, 1, *pix)


def _unfold_chunks(win: np.ndarray):
    """im2col in pieces: yield ``(m0, m1, cols)`` with ``cols`` the C-contiguous
    ``(G, kH*kW*C_g, m1-m0)`` block of GEMM columns ``m0:m1``.

    Pieces split the outermost pixel axis, so each is a contiguous column
    range of the full unfolded matrix and of the GEMM output.  The one copy
    per piece (the ``reshape``) has the innermost pixel run as its inner
    loop: a whole image row, or a row times the batch with batch-innermost
    memory.
    """
    g, kh, kw, c_g, p0, p1, p2 = win.shape
    rows = kh * kw * c_g
    per_p0 = g * rows * p1 * p2 * win.itemsize
    step = max(1, min(p0, _CHUNK_BYTES // max(per_p0, 1)))
    for start in range(0, p0, step):
        stop = min(start + step, p0)
        cols = win[:, :, :, :, start:stop].reshape(g, rows, (stop - start) * p1 * p2)
        yield start * p1 * p2, stop * p1 * p2, cols


def _weight_matrix(w: np.ndarray, groups: int) -> np.ndarray:
    """Weights as ``(groups, C_out_g, kH*kW*C_g)`` matching :func:`_unfold`'s rows."""
    c_out, c_g, kh, kw = w.shape
    wg = w.reshape(groups, c_out // groups, c_g, kh, kw).transpose(0, 1, 3, 4, 2)
    return wg.reshape(groups, c_out // groups, kh * kw * c_g)


def conv2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: IntPair = (1, 1),
    padding: IntPair = (0, 0),
    dilation: IntPair = (1, 1),
    groups: int = 1,
) -> tuple[np.ndarray, Conv2dContext]:
    """2-D cross-correlation, exactly ``torch.nn.functional.conv2d``.

    Args:
        x: input ``(N, C_in, H, W)``, any strides.
        w: weight ``(C_out, C_in // groups, kH, kW)``, same dtype as ``x``.
        b: bias ``(C_out,)`` or ``None``.
        stride, padding, dilation: int pairs (an int is accepted too);
            padding is zeros on each side, as in PyTorch.
        groups: number of channel groups (``C_in`` and ``C_out`` divisible).

    Returns:
        ``(out, ctx)``: ``out`` is ``(N, C_out, H_out, W_out)`` in the dtype of
        ``x``.  It is a view of a ``(C_out, H_out, W_out, N)`` buffer (see the
        module docstring for why), not C-contiguous; ``ctx`` feeds
        :func:`conv2d_backward`.
    """
    stride = _pair(stride, "stride")
    padding = _pair(padding, "padding")
    dilation = _pair(dilation, "dilation")
    groups = int(groups)
    out_hw = _check_shapes(x, w, b, stride, padding, dilation, groups)
    n = x.shape[0]
    c_out, _, kh, kw = w.shape

    xp, batch_inner = _prepare_input(x, padding, out_hw[1])
    win = _window_view(xp, batch_inner, (kh, kw), stride, dilation, groups, out_hw)
    w_mat = _weight_matrix(w, groups)  # (G, C_out_g, K_g)
    bias = None if b is None else b.reshape(groups, c_out // groups, 1)
    out = np.empty((groups, c_out // groups, n * out_hw[0] * out_hw[1]), dtype=x.dtype)
    for m0, m1, cols in _unfold_chunks(win):
        piece = np.matmul(w_mat, cols)  # (G, C_out_g, m1-m0), still in cache
        if bias is None:
            out[:, :, m0:m1] = piece
        else:
            np.add(piece, bias, out=out[:, :, m0:m1])  # bias added while copying
    out = _pixels_to_nchw(out.reshape(c_out, -1), batch_inner, n, out_hw)
    ctx = Conv2dContext(xp, batch_inner, w, x.shape, stride, padding, dilation, groups, out_hw)
    return out, ctx


def _pixels_to_nchw(
    mat: np.ndarray, batch_inner: bool, n: int, out_hw: IntPair
) -> np.ndarray:
    """View a ``(C, pixels)`` matrix as ``(N, C, H, W)`` (no copy)."""
    h, w = out_hw
    if batch_inner:
        return mat.reshape(-1, h, w, n).transpose(3, 0, 1, 2)
    return mat.reshape(-1, n, h, w).transpose(1, 0, 2, 3)


def _nchw_to_pixels(a: np.ndarray, batch_inner: bool) -> np.ndarray:
    """``(N, C, H, W)`` as a ``(C, pixels)`` matrix; free if ``a`` has our layout."""
    if batch_inner:
        return a.transpose(1, 2, 3, 0).reshape(a.shape[1], -1)
    return a.transpose(1, 0, 2, 3).reshape(a.shape[1], -1)


def conv2d_backward(
    grad_out: np.ndarray,
    ctx: Conv2dContext,
    need_input_grad: bool = True,
    need_weight_grad: bool = True,
    need_bias_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Gradients of :func:`conv2d_forward` w.r.t. input, weight and bias.

    Args:
        grad_out: ``(N, C_out, H_out, W_out)``, any strides (cheapest when it
            has the ``(C, H, W, N)`` memory layout that the forward output
            has, which elementwise NumPy ops on that output preserve).
        ctx: the context returned by the forward call.
        need_*: skip work for gradients nobody asked for (e.g. the first
            layer never needs the gradient of the image batch).

    Returns:
        ``(dx, dw, db)``, ``None`` for each gradient not requested.  ``dx``
        is an NCHW view of a ``(C, H, W, N)``-ordered buffer; ``dw`` and
        ``db`` are C-contiguous.  All in the dtype of the forward input.

    With ``G`` the gradient as a ``(C_out, H_out*W_out*N)`` matrix:
    ``dw = G @ colsT.T`` (one GEMM against the rebuilt unfold),
    ``db = G.sum(1)``, and ``dx`` is the unfolded gradient ``W.T @ G``
    folded back with one strided add per kernel offset (col2im; see the
    module docstring for why not a transposed convolution).
    """
    xp, w = ctx.xp, ctx.w
    groups = ctx.groups
    n = ctx.x_shape[0]
    c_out, c_g, kh, kw = w.shape
    h_out, w_out = ctx.out_hw
    if grad_out.shape != (n, c_out, h_out, w_out):
        raise ValueError(
            f"conv2d: grad_out shape {grad_out.shape} does not match the forward "
            f"output shape {(n, c_out, h_out, w_out)}"
        )
    if grad_out.dtype != w.dtype:
        raise ValueError(f"conv2d: grad_out dtype {grad_out.dtype} differs from {w.dtype}")
    # Gradient as (G, C_out_g, pixels); free when grad_out is in our own layout.
    g = _nchw_to_pixels(grad_out, ctx.batch_inner).reshape(groups, c_out // groups, -1)

    db = g.sum(axis=-1).reshape(c_out) if need_bias_grad else None

    dw = None
    if need_weight_grad:
        dw = _weight_grad(xp, ctx.batch_inner, g, (kh, kw), ctx.stride, ctx.dilation, groups, ctx.out_hw)

    dx = None
    if need_input_grad:
        dcols = np.matmul(_weight_matrix(w, groups).transpose(0, 2, 1), g)  # (G, K_g, M)
        dx = _fold(dcols, ctx)
    return dx, dw, db


def _weight_grad(
    xp: np.ndarray,
    batch_inner: bool,
    g: np.ndarray,
    kernel: IntPair,
    stride: IntPair,
    dilation: IntPair,
    groups: int,
    out_hw: IntPair,
) -> np.ndarray:
    """``dw = G @ cols.T`` over the unfold rebuilt piece by piece from the prepared input.

    ``g`` is the output gradient as ``(G, C_out_g, pixels)`` in the pixel order
    ``batch_inner`` names; returns the C-contiguous ``(C_out, C_g, kH, kW)`` weight gradient.
    """
    kh, kw = kernel
    c_g = xp.shape[0] // groups
    c_out = g.shape[0] * g.shape[1]
    win = _window_view(xp, batch_inner, kernel, stride, dilation, groups, out_hw)
    dw_mat = None  # (G, C_out_g, kh*kw*C_g), summed over unfold pieces
    for m0, m1, cols in _unfold_chunks(win):
        part = np.matmul(g[:, :, m0:m1], cols.transpose(0, 2, 1))
        if dw_mat is None:
            dw_mat = part
        else:
            dw_mat += part
    dw = dw_mat.reshape(groups, c_out // groups, kh, kw, c_g).transpose(0, 1, 4, 2, 3)
    return np.ascontiguousarray(dw.reshape(c_out, c_g, kh, kw))  # tiny copy


def conv2d_weight_grad(
    x: np.ndarray,
    grad_out: np.ndarray,
    kernel_size: IntPair,
    stride: IntPair = (1, 1),
    padding: IntPair = (0, 0),
    dilation: IntPair = (1, 1),
    groups: int = 1,
) -> np.ndarray:
    """The weight gradient of ``conv2d(x, w, stride, padding, dilation, groups)`` for a given
    output gradient, without a forward context: a correlation of ``x`` with ``grad_out``.

    ``dw[o, c, i, j] = sum_(n,h,w) x_pad[n, g*C_g + c, s*h + d*i, s*w + d*j] * grad_out[n, o, h, w]``
    with ``g = o // (C_out / groups)``.  It is what makes the weight gradient differentiable
    (double backward) and what the weight gradient of a transposed convolution is.

    ``grad_out`` may be spatially *smaller* than the convolution's natural output (then only
    its leading output rows/columns are used): that happens for the transposed convolution
    whose ``output_padding`` reaches the stride.  Returns ``(C_out, C_in/groups, kH, kW)``.
    """
    kernel = _pair(kernel_size, "kernel_size")
    stride, padding, dilation = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    groups = int(groups)
    if x.ndim != 4 or grad_out.ndim != 4 or x.shape[0] != grad_out.shape[0]:
        raise ValueError(
            f"conv2d weight gradient: expected 4-D input (N, C_in, H, W) and 4-D output gradient "
            f"(N, C_out, H_out, W_out) with the same N, got input {x.shape} and gradient {grad_out.shape}"
        )
    n, c_in, h, wd = x.shape
    c_out, h_out, w_out = grad_out.shape[1:]
    if groups < 1 or c_in % groups or c_out % groups:
        raise ValueError(
            f"conv2d weight gradient: groups={groups} must divide the input channels ({x.shape}) "
            f"and the gradient's channels ({grad_out.shape})"
        )
    if grad_out.dtype != x.dtype:
        raise ValueError(
            f"conv2d weight gradient: gradient dtype {grad_out.dtype} differs from input dtype {x.dtype}"
        )
    full = (
        conv2d_output_size(h, kernel[0], stride[0], padding[0], dilation[0]),
        conv2d_output_size(wd, kernel[1], stride[1], padding[1], dilation[1]),
    )
    if not (1 <= h_out <= full[0] and 1 <= w_out <= full[1]):
        raise ValueError(
            f"conv2d weight gradient: gradient {grad_out.shape} does not fit the output "
            f"{(n, c_out) + full} of a kernel {kernel} convolution of input {x.shape} "
            f"(stride {stride}, padding {padding}, dilation {dilation})"
        )
    xp, batch_inner = _prepare_input(x, padding, w_out)
    g = _nchw_to_pixels(grad_out, batch_inner).reshape(groups, c_out // groups, -1)
    return _weight_grad(xp, batch_inner, g, kernel, stride, dilation, groups, (h_out, w_out))


def conv_transpose2d_output_size(
    in_size: int, kernel: int, stride: int, padding: int, output_padding: int, dilation: int
) -> int:
    """Output length of a transposed convolution along one axis, PyTorch's formula.

    ``(in - 1)*stride - 2*padding + dilation*(kernel - 1) + output_padding + 1``.
    """
    return (in_size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def conv_transpose2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: IntPair = (1, 1),
    padding: IntPair = (0, 0),
    output_padding: IntPair = (0, 0),
    dilation: IntPair = (1, 1),
    groups: int = 1,
) -> np.ndarray:
    """Transposed 2-D convolution, exactly ``torch.nn.functional.conv_transpose2d``.

    It is the adjoint of :func:`conv2d_forward`: the input gradient of a convolution with
    weight ``w`` (shape ``(C_in, C_out/groups, kH, kW)`` here, i.e. that convolution's
    ``(C_out, C_in/groups, kH, kW)``) whose output gradient is ``x``.  So it runs the same
    kernel as the convolution's backward: one GEMM ``W.T @ X`` and the col2im fold, and the
    transposed convolution's output is the padded grid, cropped by ``padding``.
    ``output_padding`` only adds rows/columns at the bottom/right (any value >= 0 is
    accepted here; ``F.conv_transpose2d`` enforces PyTorch's "smaller than stride or
    dilation" rule).  Returns ``(N, C_out, H_out, W_out)`` in ``x``'s dtype, an NCHW view of
    a channel-major buffer like the convolution's outputs.
    """
    stride, padding, dilation = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    output_padding = _pair(output_padding, "output_padding")
    groups = int(groups)
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(
            f"conv_transpose2d: expected 4-D input (N, C_in, H, W) and 4-D weight "
            f"(C_in, C_out/groups, kH, kW), got input {x.shape} and weight {w.shape}"
        )
    n, c_in, h, wd = x.shape
    c_in_w, c_out_g, kh, kw = w.shape
    if groups < 1 or c_in != c_in_w or c_in % groups:
        raise ValueError(
            f"conv_transpose2d: input {x.shape} does not fit weight {w.shape} with groups={groups} "
            f"(need C_in == weight.shape[0], divisible by groups)"
        )
    c_out = c_out_g * groups
    if b is not None and b.shape != (c_out,):
        raise ValueError(f"conv_transpose2d: bias shape {b.shape} must be ({c_out},) for weight {w.shape}")
    for arr, what in ((w, "weight"), (b, "bias")):
        if arr is not None and arr.dtype != x.dtype:
            raise ValueError(f"conv_transpose2d: {what} dtype {arr.dtype} differs from input dtype {x.dtype}")
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0 or min(output_padding) < 0:
        raise ValueError(
            f"conv_transpose2d: need stride >= 1, dilation >= 1, padding >= 0, output_padding >= 0; "
            f"got stride={stride}, padding={padding}, output_padding={output_padding}, dilation={dilation}"
        )
    out_hw = tuple(
        conv_transpose2d_output_size(size, k, s, p, op, d)
        for size, k, s, p, op, d in zip((h, wd), (kh, kw), stride, padding, output_padding, dilation)
    )
    if min(out_hw) < 1:
        raise ValueError(
            f"conv_transpose2d: the output size {out_hw} is not positive (input {x.shape}, weight {w.shape}, "
            f"stride {stride}, padding {padding}, output_padding {output_padding}, dilation {dilation})"
        )
    # The convolution this is the adjoint of: input (N, C_out, *out_hw), output (N, C_in, H, W).
    batch_inner = _batch_innermost(x) or wd < _SHORT_ROW
    g = _nchw_to_pixels(x, batch_inner).reshape(groups, c_in // groups, -1)
    dcols = np.matmul(_weight_matrix(w, groups).transpose(0, 2, 1), g)  # (G, K_g, pixels)
    ctx = Conv2dContext(None, batch_inner, w, (n, c_out) + out_hw, stride, padding, dilation, groups, (h, wd))
    out = _fold(dcols, ctx)
    if b is not None:
        out += b.reshape(1, c_out, 1, 1)  # out is a view of a fresh buffer: in place is safe
    return out


def _fold(dcols: np.ndarray, ctx: Conv2dContext) -> np.ndarray:
    """col2im: sum the unfolded gradient back onto the (padded) input grid.

    Every kernel offset ``(i, j)`` maps the whole ``(C, N, H_out, W_out)``
    block of ``dcols`` onto a strided sub-grid of the padded input, so the
    scatter-add is ``kH*kW`` vectorised in-place adds (with batch-innermost
    memory and stride 1, each add streams over runs of ``W_out*N``
    contiguous values).  Offsets overlap one another (that is what the sum
    accumulates) but within one offset the target positions are distinct,
    so ``+=`` on a view is correct (no ``np.add.at`` needed).
    """
    n, c_in, h, wd = ctx.x_shape
    _, _, kh, kw = ctx.w.shape
    sh, sw = ctx.stride
    ph, pw = ctx.padding
    dh, dw = ctx.dilation
    h_out, w_out = ctx.out_hw
    groups = ctx.groups
    c_g = c_in // groups
    hp, wp = h + 2 * ph, wd + 2 * pw
    # Both arrays get the memory order of the forward pixels, viewed with
    # logical axes (G, C_g, N, H, W) so one loop body serves both orders.
    if ctx.batch_inner:
        dxp = np.zeros((groups, c_g, hp, wp, n), dtype=dcols.dtype).transpose(0, 1, 4, 2, 3)
        dcols = dcols.reshape(groups, kh, kw, c_g, h_out, w_out, n).transpose(0, 1, 2, 3, 6, 4, 5)
    else:
        dxp = np.zeros((groups, c_g, n, hp, wp), dtype=dcols.dtype)
        dcols = dcols.reshape(groups, kh, kw, c_g, n, h_out, w_out)
    h_span = sh * (h_out - 1) + 1
    w_span = sw * (w_out - 1) + 1
    for i in range(kh):
        rows = slice(i * dh, i * dh + h_span, sh)
        for j in range(kw):
            cols = slice(j * dw, j * dw + w_span, sw)
            dxp[:, :, :, rows, cols] += dcols[:, i, j]
    dxp = dxp.reshape(c_in, n, hp, wp)  # merges (G, C_g): a view in both orders
    return dxp[:, :, ph : ph + h, pw : pw + wd].transpose(1, 0, 2, 3)
