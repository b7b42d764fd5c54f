"""`gradwise.nn.functional`: PyTorch's functional API (same names, arguments and defaults).

Activations, affine and convolution layers, pooling, dropout, normalization, embedding and
the losses, as functions of tensors. Each one validates its arguments and raises an error
that names the shapes involved, then calls one op from `gradwise.ops` (or composes a few).
`inplace=` is accepted where PyTorch has it and ignored: the result is always a new tensor,
which is what code that uses the return value (`x = F.relu(x, inplace=True)`) expects.
"""
from __future__ import annotations

import warnings
from typing import Sequence, Tuple, Union

import numpy as np

from gradwise.ops import activation as A
from gradwise.ops import conv as C
from gradwise.ops import dropout as D
from gradwise.ops import embedding as E
from gradwise.ops import linalg
from gradwise.ops import loss as L
from gradwise.ops import normalization as N
from gradwise.ops import pad as PAD
from gradwise.ops import pool as P
from gradwise.tensor.dtypes import c_type_name, scalar_type_name
from gradwise.tensor.tensor import Tensor, _float, as_tensor

IntPair = Union[int, Tuple[int, int]]  # a size: one int for both dims, or (height, width)


# ---------------------------------------------------------------------------- activations
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(0, x)."""
    return input.relu()


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """max(negative_slope * x, x) (the lecture's slope is 0.1; PyTorch's default is 0.01)."""
    return A.LeakyRelu.apply(_float(input), negative_slope=negative_slope)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha (e^x - 1) otherwise."""
    return A.Elu.apply(_float(input), alpha=alpha)


def gelu(input: Tensor, *, approximate: str = "none") -> Tensor:
    """x * Phi(x), Phi the standard normal CDF; approximate="tanh" is the tanh form (BERT, GPT-2)."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return A.Gelu.apply(_float(input), approximate=approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (swish)."""
    return A.Silu.apply(_float(input))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e^(beta x)) / beta, a smooth ReLU; x itself where beta * x > threshold."""
    return A.Softplus.apply(_float(input), beta=beta, threshold=threshold)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """clamp(x, min_val, max_val); the gradient is 1 strictly inside, 0 outside."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return A.Hardtanh.apply(input, min_val=min_val, max_val=max_val)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(0, x), 6) (MobileNet's bounded ReLU)."""
    return A.Relu6.apply(input)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """max(0, x) + weight * min(0, x), one learned slope per channel (dim 1) or one for all."""
    if input.dtype != weight.dtype:
        raise RuntimeError(f"prelu: Type promoting not supported. Got {_type_name(input)} and {_type_name(weight)}")
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.ndim}")
    if input.ndim == 0 and weight.numel() != 1:
        raise RuntimeError("Not allow zero-dim input tensor.")
    channels = input.shape[1] if input.ndim >= 2 else 1
    if weight.numel() not in (1, channels):
        raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                           f"{weight.numel()} and channel size = {channels}.")
    return A.Prelu.apply(input, weight)


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + e^-x)."""
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


def _softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
                  "dim=X as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """e^x / sum(e^x) along `dim` (computed after subtracting the max, so it never overflows)."""
    if dim is None:
        dim = _softmax_dim("softmax", input.ndim, _stacklevel)
    return (input if dtype is None else input.to(dtype)).softmax(dim)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """x - logsumexp(x) along `dim`: the stable form of log(softmax(x))."""
    if dim is None:
        dim = _softmax_dim("log_softmax", input.ndim, _stacklevel)
    return (input if dtype is None else input.to(dtype)).log_softmax(dim)


# ---------------------------------------------------------------------------- affine, conv
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x W^T + b (one fused op). Input, weight and bias must share a dtype (PyTorch's errors)."""
    if bias is not None and bias.dtype != weight.dtype:
        raise RuntimeError(f"self and mat2 must have the same dtype, but got {_type_name(bias)} and "
                           f"{_type_name(weight)}" + _dtype_hint("bias", bias, weight))
    if input.dtype != weight.dtype:
        if bias is not None:
            raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got {_type_name(input)} and "
                               f"{_type_name(weight)}" + _dtype_hint("input", input, weight))
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {_c_type_name(input)} != "
                           f"{_c_type_name(weight)}" + _dtype_hint("input", input, weight))
    return linalg.Linear.apply(input, weight, bias)


def _dtype_hint(what: str, t: Tensor, weight: Tensor) -> str:
    return (f" ({what} dtype {t.dtype}, weight dtype {weight.dtype}: call .float() or .double() on the model or "
            "the input)")


# PyTorch's names for dtypes in its error messages: ScalarType names and C type names.
def _type_name(t: Tensor) -> str:
    return scalar_type_name(t.dtype)


def _c_type_name(t: Tensor) -> str:
    return c_type_name(t.dtype)


def _pair(value, name: str, op: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    pair = tuple(int(v) for v in value)
    if len(pair) == 1:
        pair = pair * 2
    if len(pair) != 2:
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    return pair


def _batched(input: Tensor, op: str, what: str) -> tuple[Tensor, bool]:
    """(N, C, H, W) as is; an unbatched (C, H, W) gets a batch dim of 1 (as PyTorch)."""
    if input.ndim not in (3, 4):
        raise RuntimeError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input{what}, got input of "
                           f"shape {tuple(input.shape)}")
    return (input.unsqueeze(0), True) if input.ndim == 3 else (input, False)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntPair = 1,
           padding: IntPair | str = 0, dilation: IntPair = 1, groups: int = 1) -> Tensor:
    """2-D cross-correlation of an (N, C_in, H, W) input with (C_out, C_in/groups, kH, kW) weights.

    padding: an int, a pair, "valid" (none) or "same" (output size = input size; stride 1).
    """
    x, unbatched = _batched(input, "conv2d", f" for weight of shape {tuple(weight.shape)}")
    if weight.ndim != 4:
        raise RuntimeError(f"conv2d: expected a 4-D weight (C_out, C_in/groups, kH, kW), got shape "
                           f"{tuple(weight.shape)}")
    stride, dilation = _pair(stride, "stride", "conv2d"), _pair(dilation, "dilation", "conv2d")
    groups = int(groups)
    c_out, c_in_group, kh, kw = weight.shape
    if groups < 1 or c_out % groups:
        raise RuntimeError(f"conv2d: groups={groups} must be >= 1 and divide the {c_out} output channels "
                           f"(weight shape {tuple(weight.shape)})")
    if x.shape[1] != c_in_group * groups:
        group_note = f", groups={groups}" if groups != 1 else ""
        raise RuntimeError(f"conv2d: expected input with {c_in_group * groups} channels (weight shape "
                           f"{tuple(weight.shape)}{group_note}), got input of shape {tuple(input.shape)}")
    if bias is not None and tuple(bias.shape) != (c_out,):
        raise RuntimeError(f"conv2d: bias of shape {tuple(bias.shape)} does not fit weight of shape "
                           f"{tuple(weight.shape)} (expected ({c_out},))")
    _check_conv_dtypes(x, weight, bias)
    if min(stride) < 1 or min(dilation) < 1:
        raise RuntimeError(f"conv2d: stride {stride} and dilation {dilation} must be >= 1")
    if isinstance(padding, str):
        x, padding = _string_padding(x, padding, (kh, kw), stride, dilation)
    else:
        padding = _pair(padding, "padding", "conv2d")
        if min(padding) < 0:
            raise RuntimeError(f"conv2d: negative padding {padding} is not supported")
    for size, k, p, d, axis in zip(x.shape[2:], (kh, kw), padding, dilation, ("height", "width")):
        if size + 2 * p < d * (k - 1) + 1:
            raise RuntimeError(f"conv2d: the {axis} of the padded input ({size} + 2*{p}) is smaller than the "
                               f"kernel ({k}, dilation {d}): input shape {tuple(input.shape)}, weight shape "
                               f"{tuple(weight.shape)}")
    out = C.Conv2d.apply(x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)
    return out.squeeze(0) if unbatched else out


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntPair = 1,
                     padding: IntPair = 0, output_padding: IntPair = 0, groups: int = 1,
                     dilation: IntPair = 1) -> Tensor:
    """Transposed 2-D convolution ("deconvolution") of an (N, C_in, H, W) input with
    (C_in, C_out/groups, kH, kW) weights: the gradient of `conv2d` with respect to its input,
    used as a layer (upsampling in decoders, GAN generators). PyTorch's signature and sizes:
    H_out = (H - 1)*stride - 2*padding + dilation*(kH - 1) + output_padding + 1, where
    output_padding (smaller than the stride or the dilation) picks among the input sizes a
    strided conv2d maps to the same output size.
    """
    x, unbatched = _batched(input, "conv_transpose2d", f" for weight of shape {tuple(weight.shape)}")
    if weight.ndim != 4:
        raise RuntimeError(f"conv_transpose2d: expected a 4-D weight (C_in, C_out/groups, kH, kW), got shape "
                           f"{tuple(weight.shape)}")
    stride, dilation = _pair(stride, "stride", "conv_transpose2d"), _pair(dilation, "dilation", "conv_transpose2d")
    padding = _pair(padding, "padding", "conv_transpose2d")
    output_padding = _pair(output_padding, "output_padding", "conv_transpose2d")
    groups = int(groups)
    c_in, c_out_group, kh, kw = weight.shape
    if groups < 1 or c_in % groups:
        raise RuntimeError(f"conv_transpose2d: groups={groups} must be >= 1 and divide the {c_in} input channels "
                           f"(weight shape {tuple(weight.shape)})")
    if x.shape[1] != c_in:
        raise RuntimeError(f"conv_transpose2d: expected input with {c_in} channels (weight shape "
                           f"{tuple(weight.shape)} is (C_in, C_out/groups, kH, kW)), got input of shape "
                           f"{tuple(input.shape)}")
    c_out = c_out_group * groups
    if bias is not None and tuple(bias.shape) != (c_out,):
        raise RuntimeError(f"conv_transpose2d: bias of shape {tuple(bias.shape)} does not fit weight of shape "
                           f"{tuple(weight.shape)} with groups={groups} (expected ({c_out},))")
    _check_conv_dtypes(x, weight, None)
    if bias is not None and bias.dtype != x.dtype:
        bias = bias.to(x.dtype)  # PyTorch casts a transposed convolution's bias to the input's dtype
    if min(stride) < 1 or min(dilation) < 1:
        raise RuntimeError(f"conv_transpose2d: stride {stride} and dilation {dilation} must be >= 1")
    if min(padding) < 0 or min(output_padding) < 0:
        raise RuntimeError(f"conv_transpose2d: negative padding {padding} or output_padding {output_padding} "
                           "is not supported")
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= s and op >= d:
            raise RuntimeError(f"conv_transpose2d: output_padding {output_padding} must be smaller than either "
                               f"the stride {stride} or the dilation {dilation}")
    from gradwise.ops.conv_kernels import conv_transpose2d_output_size

    out_hw = [conv_transpose2d_output_size(size, k, s, p, op, d) for size, k, s, p, op, d
              in zip(x.shape[2:], (kh, kw), stride, padding, output_padding, dilation)]
    if min(out_hw) < 1:
        raise RuntimeError(f"conv_transpose2d: the output size {tuple(out_hw)} would not be positive: input shape "
                           f"{tuple(input.shape)}, weight shape {tuple(weight.shape)}, stride {stride}, padding "
                           f"{padding}, output_padding {output_padding}, dilation {dilation}")
    out = C.ConvTranspose2d.apply(x, weight, bias, stride=stride, padding=padding, output_padding=output_padding,
                                  dilation=dilation, groups=groups)
    return out.squeeze(0) if unbatched else out


def _check_conv_dtypes(x: Tensor, weight: Tensor, bias: Tensor | None) -> None:
    """PyTorch's errors for a model and an input of different dtypes (bias checked first)."""
    if bias is not None and bias.dtype != x.dtype:
        raise RuntimeError(f"Input type ({_c_type_name(x)}) and bias type ({_c_type_name(bias)}) should be the same"
                           + _dtype_hint("input", x, bias).replace("weight dtype", "bias dtype"))
    if weight.dtype != x.dtype:
        raise RuntimeError(f"expected scalar type {_type_name(x)} but found {_type_name(weight)}"
                           + _dtype_hint("input", x, weight))


def _string_padding(x: Tensor, padding: str, kernel, stride, dilation):
    """"valid" is no padding; "same" pads d*(k-1) in total, the odd one at the bottom/right."""
    if padding == "valid":
        return x, (0, 0)
    if padding != "same":
        raise ValueError(f"Invalid padding string {padding!r}, should be one of ('valid', 'same')")
    if stride != (1, 1):
        raise ValueError("padding='same' is not supported for strided convolutions")
    totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
    left = tuple(t // 2 for t in totals)
    extra = [t - 2 * l for t, l in zip(totals, left)]
    if any(extra):
        x = C.ZeroPad2d.apply(x, pad=(0, extra[1], 0, extra[0]))
    return x, left


# ---------------------------------------------------------------------------- padding
_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _pad_ints(pad: Sequence[int]) -> tuple[int, ...]:
    """The pad argument as a tuple of ints (a float would silently truncate, so it is an error)."""
    try:
        values = tuple(pad)
    except TypeError:
        raise TypeError(f"pad: the padding must be a tuple of ints (left, right, top, bottom, ...), "
                        f"got {pad!r}") from None
    for i, v in enumerate(values):
        if not isinstance(v, (int, np.integer)):
            raise TypeError(f"pad: the padding must be a tuple of ints, but element {i} of {pad!r} is "
                            f"{type(v).__name__} {v!r}")
    return tuple(int(v) for v in values)


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last dims of `input`, PyTorch's ``F.pad``.

    `pad` lists (before, after) pairs starting from the last dim and moving backwards:
    ``(left, right)`` pads the last dim, ``(left, right, top, bottom)`` the last two, and so on.
    Negative values crop.

    mode:
      * "constant": fill with `value` (default 0); any number of dims, up to all of them.
      * "reflect": mirror at the edges without repeating the edge element; each width must be
        smaller than the dim it pads.
      * "replicate": repeat the edge element.
      * "circular": wrap around (the left border continues from the right end); each width
        can be at most the dim size.
      The last three pad the last 1, 2 or 3 dims of a 2-D/3-D, 3-D/4-D or 4-D/5-D input
      (the leading one or two dims are batch and channels), as PyTorch supports them.

    The gradient of reflect/replicate/circular padding adds the gradient of each border
    position into the input position it was copied from.
    """
    widths = _pad_ints(pad)
    shape = tuple(input.shape)
    ndim = len(shape)
    if len(widths) % 2:
        raise RuntimeError(f"pad: the padding length must be divisible by 2 ((before, after) pairs from the last "
                           f"dim backwards), got pad={widths}")
    if len(widths) > 2 * ndim:
        raise RuntimeError(f"pad: the padding length must be at most twice the number of dims, got "
                           f"pad={widths} (length {len(widths)}) for input of shape {shape} ({ndim} dims)")
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"pad: unrecognised padding mode {mode!r}; expected one of "
                                  f"{', '.join(repr(m) for m in _PAD_MODES)}")
    pairs = len(widths) // 2
    # per_dim[d] = (before, after) for the padded dims, counted from the last dim backwards
    per_dim = {ndim - 1 - i: (widths[2 * i], widths[2 * i + 1]) for i in range(pairs)}
    if mode == "constant":
        for d, (before, after) in per_dim.items():
            if shape[d] + before + after < 0:
                raise RuntimeError(f"pad: dim {d} of the input (shape {shape}) has size {shape[d]}; with padding "
                                   f"({before}, {after}) the output size would be {shape[d] + before + after}, "
                                   "but it must be >= 0 (negative padding crops at most the whole dim)")
        all_widths = tuple(per_dim.get(d, (0, 0)) for d in range(ndim))
        return PAD.ConstantPad.apply(input, widths=all_widths, value=0 if value is None else value)

    if value is not None and value != 0:
        raise RuntimeError(f"pad: padding mode {mode!r} doesn't take a value argument (got value={value}); "
                           "only mode='constant' fills with a value")
    if pairs not in (1, 2, 3) or ndim not in (pairs + 1, pairs + 2):
        raise NotImplementedError(
            f"pad: {mode} padding with pad={widths} (length {len(widths)}) is not supported for a {ndim}-D input "
            f"of shape {shape}. Supported: length 2 (last dim) for 2-D or 3-D inputs, length 4 (last 2 dims) for "
            "3-D or 4-D inputs, length 6 (last 3 dims) for 4-D or 5-D inputs")
    plan = []
    for d, (before, after) in sorted(per_dim.items()):
        size = shape[d]
        where = f"dim {d} of size {size} (input shape {shape})"
        if mode == "reflect" and (before >= size or after >= size):
            raise RuntimeError(f"pad: reflect padding must be smaller than the dim it pads, but got padding "
                               f"({before}, {after}) for {where}")
        if mode == "circular" and (before > size or after > size):
            raise RuntimeError(f"pad: circular padding ({before}, {after}) for {where} would wrap around more than "
                               "once; each width can be at most the dim size")
        out_size = size + before + after
        kept = size - max(-before, 0) - max(-after, 0)
        if mode in ("reflect", "replicate") and (size == 0 or out_size < 1):
            raise RuntimeError(f"pad: {mode} padding ({before}, {after}) of {where} would give an output size of "
                               f"{out_size}; the dim must be non-empty and the output at least 1")
        if mode == "circular" and (out_size < 0 or (kept <= 0 and out_size > 0)):
            raise RuntimeError(f"pad: circular padding ({before}, {after}) of {where} leaves {max(kept, 0)} "
                               f"elements to wrap around for an output size of {out_size}")
        if before or after:
            plan.append((d, PAD.source_index(mode, size, before, after), size))
    return PAD.IndexPad.apply(input, plan=tuple(plan))


# ---------------------------------------------------------------------------- pooling
def _pool_args(op: str, kernel_size, stride, padding, dilation=1):
    kernel = _pair(kernel_size, "kernel_size", op)
    no_stride = stride is None or (not isinstance(stride, (int, np.integer)) and len(stride) == 0)
    stride = kernel if no_stride else _pair(stride, "stride", op)
    padding, dilation = _pair(padding, "padding", op), _pair(dilation, "dilation", op)
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise RuntimeError(f"{op}: kernel_size {kernel}, stride {stride} and dilation {dilation} must be >= 1 "
                           f"and padding {padding} >= 0")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise RuntimeError(f"{op}: pad should be at most half of kernel size, but got pad={padding} and "
                           f"kernel_size={kernel}")
    return kernel, stride, padding, dilation


def _check_pool_output(op: str, input: Tensor, kernel, stride, padding, dilation, ceil_mode) -> None:
    from gradwise.ops.pool_kernels import pool2d_output_size

    out = [pool2d_output_size(n, k, s, p, d, ceil_mode)
           for n, k, s, p, d in zip(input.shape[-2:], kernel, stride, padding, dilation)]
    if min(out) < 1:
        raise RuntimeError(f"{op}: input of shape {tuple(input.shape)} is too small for kernel_size={kernel}, "
                           f"stride={stride}, padding={padding}, dilation={dilation}: the output would be "
                           f"{out[0]}x{out[1]}")


def max_pool2d(input: Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
               dilation: IntPair = 1, ceil_mode: bool = False, return_indices: bool = False):
    """The max of each kernel_size window (stride defaults to kernel_size; padding counts as -inf).

    With return_indices, also the flat index h * W + w of each max within its input plane.
    """
    x, unbatched = _batched(input, "max_pool2d", "")
    kernel, stride, padding, dilation = _pool_args("max_pool2d", kernel_size, stride, padding, dilation)
    _check_pool_output("max_pool2d", input, kernel, stride, padding, dilation, ceil_mode)
    out = P.MaxPool2d.apply(x, kernel_size=kernel, stride=stride, padding=padding, dilation=dilation,
                            ceil_mode=ceil_mode)
    if not return_indices:
        return out.squeeze(0) if unbatched else out
    # The indices come from the kernel's context, kept by the graph node; when no graph was
    # recorded, the kernel is rerun on the array to get one.
    node = out.grad_fn
    if not isinstance(node, P.MaxPool2d):
        node = P.MaxPool2d()
        node.forward(x._data, kernel, stride, padding, dilation, ceil_mode)
    indices = Tensor._make(node.indices())
    return (out.squeeze(0), indices.squeeze(0)) if unbatched else (out, indices)


def avg_pool2d(input: Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """The mean of each kernel_size window (stride defaults to kernel_size)."""
    x, unbatched = _batched(input, "avg_pool2d", "")
    kernel, stride, padding, _ = _pool_args("avg_pool2d", kernel_size, stride, padding)
    _check_pool_output("avg_pool2d", input, kernel, stride, padding, (1, 1), ceil_mode)
    out = P.AvgPool2d.apply(x, kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode,
                            count_include_pad=count_include_pad, divisor_override=divisor_override)
    return out.squeeze(0) if unbatched else out


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed (oh, ow) output, whatever the input's spatial size.

    `output_size` is an int, a pair, or a pair with None meaning "keep the input's size".
    """
    if input.ndim not in (3, 4):
        raise RuntimeError(f"adaptive_avg_pool2d: expected a 3-D or 4-D input, got shape {tuple(input.shape)}")
    size = (output_size, output_size) if isinstance(output_size, (int, np.integer)) or output_size is None \
        else tuple(output_size)
    size = tuple(int(n if s is None else s) for s, n in zip(size, input.shape[-2:]))
    if min(size) < 1 or min(input.shape[-2:]) < 1:
        raise RuntimeError(f"adaptive_avg_pool2d: output size {size} and input size {tuple(input.shape[-2:])} "
                           "must be positive")
    return P.AdaptiveAvgPool2d.apply(input, output_size=size)


# ---------------------------------------------------------------------------- regularisation
def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Inverted dropout: zero with probability p, scale the rest by 1/(1-p); identity when not training."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    return D.Dropout.apply(input, p=p)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels: each (sample, channel) plane of an (N, C, H, W) input with
    probability p, the rest scaled by 1/(1-p). PyTorch's quirks are kept: a 3-D input is read
    as (N, C, L) (with a warning), other than 3-D/4-D inputs warn, fewer than 2 dims raise."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    ndim = input.ndim
    if ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {ndim}-D input to dropout2d, which is deprecated and will result in "
                      "an error in a future release. To retain the behavior and silence this warning, please use "
                      "dropout instead. Note that dropout2d exists to provide channel-wise dropout on inputs with 2 "
                      "spatial dimensions, a channel dimension, and an optional batch dimension (i.e. 3D or 4D "
                      "inputs).", stacklevel=2)
    if ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel dim. "
                      "This behavior will change in a future release to interpret the input as one without a batch "
                      "dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise dropout behavior, please "
                      "switch to using dropout1d instead.", stacklevel=2)
    if not training or p == 0:
        return input
    if ndim < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    return D.FeatureDropout.apply(input, p=p)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel (dim 1) to zero mean and unit variance, then scale and shift.

    In training the batch statistics are used and `running_mean`/`running_var` (when given)
    move towards them by `momentum`; otherwise the running statistics are used.
    """
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, ...), got shape {tuple(input.shape)}")
    channels = input.shape[1]
    for t, what in ((running_mean, "running_mean"), (running_var, "running_var"), (weight, "weight"),
                    (bias, "bias")):
        if t is not None and tuple(t.shape) != (channels,):
            raise RuntimeError(f"batch_norm: {what} of shape {tuple(t.shape)} does not fit an input with "
                               f"{channels} channels (input shape {tuple(input.shape)})")
    if training:
        if input.numel() // max(channels, 1) <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                             f"{tuple(input.shape)}")
    elif running_mean is None or running_var is None:
        raise RuntimeError("batch_norm: running_mean and running_var are needed when training=False")
    return N.BatchNorm.apply(input, weight, bias, running_mean=running_mean, running_var=running_var,
                             training=training, momentum=0.0 if momentum is None else momentum, eps=eps)


def _check_norm_params(op: str, input: Tensor, weight: Tensor | None, bias: Tensor | None) -> None:
    if input.dtype.kind != "f":
        raise NotImplementedError(f'"{op}KernelImpl" not implemented for \'{_type_name(input)}\'')
    if any(t is not None and t.dtype != input.dtype for t in (weight, bias)):
        raise RuntimeError("mixed dtype (CPU): all inputs must share same datatype.")


def layer_norm(input: Tensor, normalized_shape: Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Standardise each sample over its last len(normalized_shape) dims (which must equal
    normalized_shape), then scale and shift elementwise: (x - mean) / sqrt(var + eps) * w + b."""
    if isinstance(normalized_shape, (int, np.integer)):
        raise TypeError("layer_norm(): argument 'normalized_shape' (position 2) must be tuple of ints, not int")
    shape = tuple(int(n) for n in normalized_shape)
    if not shape:
        raise RuntimeError("Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one "
                           "element, but got normalized_shape = []")
    for t, what in ((weight, "weight"), (bias, "bias")):
        if t is not None and tuple(t.shape) != shape:
            raise RuntimeError(f"Expected {what} to be of same shape as normalized_shape, but got {what} of shape "
                               f"{list(t.shape)} and normalized_shape = {list(shape)}")
    if input.ndim < len(shape) or tuple(input.shape[input.ndim - len(shape):]) != shape:
        raise RuntimeError(f"Given normalized_shape={list(shape)}, expected input with shape "
                           f"[*, {', '.join(str(n) for n in shape)}], but got input of size{list(input.shape)}")
    _check_norm_params("LayerNorm", input, weight, bias)
    return N.LayerNorm.apply(input, weight, bias, option=len(shape), eps=eps)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Standardise each group of num_groups channel groups (dim 1) of each sample, over the
    group's channels and all positions, then scale and shift per channel."""
    if input.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.ndim}")
    shape = list(input.shape)
    size = [shape[0] * shape[1] // num_groups, num_groups] + shape[2:]
    if size[0] * int(np.prod(size[2:])) == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {size}")
    if shape[1] % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, but got input of "
                           f"shape {shape} and num_groups={num_groups}")
    for t, what in ((weight, "weight"), (bias, "bias")):
        if t is not None and (t.ndim != 1 or t.numel() != shape[1]):
            raise RuntimeError(f"Expected {what} to be a vector of size equal to the number of channels in input, "
                               f"but got {what} of shape {list(t.shape)} and input of shape {shape}")
    _check_norm_params("GroupNorm", input, weight, bias)
    return N.GroupNorm.apply(input, weight, bias, option=num_groups, eps=eps)


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of `weight` at the integer ids in `input` (output shape input.shape + (dim,))."""
    ids = input._data if isinstance(input, Tensor) else np.asarray(input)
    rows = weight.shape[0]
    if ids.dtype.kind not in "iu":
        raise RuntimeError(f"embedding: expected integer ids (int64 or int32), got dtype {ids.dtype} of shape "
                           f"{ids.shape}; convert them with .long()")
    if ids.size and (ids.min() < 0 or ids.max() >= rows):
        bad = int(ids.min()) if ids.min() < 0 else int(ids.max())
        raise IndexError(f"embedding: index {bad} is out of range for an embedding table of {rows} rows "
                         f"(weight shape {tuple(weight.shape)}); ids must be in [0, {rows - 1}]")
    if padding_idx is None:
        padding_idx = -1
    elif not -rows <= padding_idx < rows:
        raise AssertionError("Padding_idx must be within num_embeddings")
    elif padding_idx < 0:
        padding_idx += rows
    if max_norm is not None:
        _renorm_rows(weight, ids, max_norm, norm_type)
    return E.Embedding.apply(weight, ids, padding_idx=padding_idx, scale_grad_by_freq=scale_grad_by_freq,
                             sparse=sparse)


def _renorm_rows(weight: Tensor, ids: np.ndarray, max_norm: float, norm_type: float) -> None:
    """Scale the looked-up rows whose norm exceeds max_norm back to it, in place (not recorded)."""
    rows = np.unique(ids)
    norms = np.linalg.norm(weight._data[rows], ord=norm_type, axis=1)
    scale = np.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
    weight._data[rows] *= scale[:, None].astype(weight.dtype)
    weight._version.value += 1


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding: out[..., c] = 1 where tensor == c."""
    ids = tensor._data
    if ids.dtype.kind not in "iu":
        raise RuntimeError(f"one_hot is only applicable to index tensor (got dtype {ids.dtype})")
    if num_classes == -1:
        num_classes = int(ids.max()) + 1 if ids.size else 0
    if ids.size and ids.min() < 0:
        raise RuntimeError("Class values must be non-negative.")
    if ids.size and ids.max() >= num_classes:
        raise RuntimeError(f"Class values must be smaller than num_classes (got {int(ids.max())} for "
                           f"num_classes={num_classes}).")
    return Tensor._make((ids[..., None] == np.arange(num_classes)).astype(np.int64))


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return input.flatten(start_dim, end_dim)


# ---------------------------------------------------------------------------- losses
def _reduction(size_average, reduce, reduction: str) -> str:
    """The legacy size_average/reduce flags mapped to `reduction`, as PyTorch does."""
    if size_average is not None or reduce is not None:
        warnings.warn("size_average and reduce args will be deprecated, please use reduction instead.",
                      stacklevel=3)
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    return loss if reduction == "none" else loss.sum() if reduction == "sum" else loss.mean()


def _as_target(target) -> Tensor:
    return target if isinstance(target, Tensor) else as_tensor(np.asarray(target))


def _class_targets(op: str, input: Tensor, target: Tensor, ignore_index: int) -> np.ndarray:
    """Check class-index targets against an (N, C, d1...) input and return them as an array."""
    classes = input.shape[1]
    expected = (input.shape[0],) + tuple(input.shape[2:])
    t = target._data
    if t.dtype.kind == "f":
        raise RuntimeError(f"{op}: expected class indices (an integer tensor of shape {expected}) but got a float "
                           f"target of shape {tuple(t.shape)} for input of shape {tuple(input.shape)}. Pass int64 "
                           f"class indices (e.g. target.long()), or class probabilities with the input's shape "
                           f"{tuple(input.shape)}.")
    if t.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: expected int64 class indices, got a target of dtype {t.dtype}")
    if t.shape != expected:
        raise RuntimeError(f"{op}: target of shape {tuple(t.shape)} does not fit input of shape "
                           f"{tuple(input.shape)}: expected one class index per sample, a target of shape "
                           f"{expected}")
    counted = t[t != ignore_index]
    if counted.size and (counted.min() < 0 or counted.max() >= classes):
        bad = int(counted.min()) if counted.min() < 0 else int(counted.max())
        raise IndexError(f"{op}: target class index {bad} is out of range for {classes} classes (input shape "
                         f"{tuple(input.shape)}, target shape {tuple(t.shape)}); class indices must be in "
                         f"[0, {classes - 1}] or equal ignore_index={ignore_index}")
    return t


def _class_weight(op: str, weight: Tensor | None, classes: int) -> np.ndarray | None:
    if weight is None:
        return None
    if tuple(weight.shape) != (classes,):
        raise RuntimeError(f"{op}: weight tensor should be defined either for all {classes} classes or no "
                           f"classes but got weight tensor of shape: {tuple(weight.shape)}")
    return weight._data


def _unbatched(input: Tensor, target: Tensor) -> tuple[Tensor, Tensor, bool]:
    """A single (C,) sample with a scalar class index becomes a batch of one."""
    if input.ndim == 1:
        return input.unsqueeze(0), target.reshape(1) if target.ndim == 0 else target, True
    return input, target, False


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of the target classes, given log-probabilities (N, C, d1...)."""
    reduction = _reduction(size_average, reduce, reduction)
    input, target, single = _unbatched(input, _as_target(target))
    out = _nll("nll_loss", input, target, weight, ignore_index, reduction)
    return out.squeeze(0) if single and reduction == "none" else out


def _nll(op: str, logp: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int, reduction: str):
    t = _class_targets(op, logp, target, ignore_index)
    w = _class_weight(op, weight, logp.shape[1])
    return L.NLLLoss.apply(logp, t, w, ignore_index=ignore_index, reduction=reduction)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                  ignore_index: int = -100, reduce=None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """log_softmax over the classes (dim 1) followed by the negative log-likelihood.

    `target` is either class indices (int64, shape (N,) or (N, d1...)) or class probabilities
    (float, the input's shape). label_smoothing=e mixes the target with the uniform
    distribution: (1 - e) * target + e / C.
    """
    reduction = _reduction(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if input.ndim == 0:
        raise RuntimeError("cross_entropy: expected an input of shape (C,), (N, C) or (N, C, d1, ...), got a scalar")
    target = _as_target(target)
    class_dim = 0 if input.ndim == 1 else 1
    classes = input.shape[class_dim]
    if tuple(target.shape) == tuple(input.shape):
        if target.dtype.kind != "f":
            raise RuntimeError(f"cross_entropy: a target with the input's shape {tuple(input.shape)} holds class "
                               f"probabilities and must be floating point, got dtype {target.dtype}; for class "
                               f"indices pass a target of shape {(input.shape[0],) + tuple(input.shape[2:])}")
        return _cross_entropy_probabilities(input, target, weight, ignore_index, reduction, label_smoothing,
                                            class_dim)
    input, target, single = _unbatched(input, target)
    logp = input.log_softmax(1)
    nll = _nll("cross_entropy", logp, target, weight, ignore_index, reduction)
    if label_smoothing == 0:
        return nll.squeeze(0) if single and reduction == "none" else nll
    w = _class_weight("cross_entropy", weight, classes)
    view = (1, classes) + (1,) * (logp.ndim - 2)
    smooth = -(logp * w.reshape(view)).sum(1) if w is not None else -logp.sum(1)
    ignored = target._data == ignore_index
    smooth = smooth.masked_fill(ignored, 0.0)
    if reduction == "mean":
        counted = target._data[~ignored]
        denominator = w[counted].sum() if w is not None else counted.size
        smooth = smooth.sum() / float(denominator)
    elif reduction == "sum":
        smooth = smooth.sum()
    out = (1 - label_smoothing) * nll + smooth * (label_smoothing / classes)
    return out.squeeze(0) if single and reduction == "none" else out


def _cross_entropy_probabilities(input, target, weight, ignore_index, reduction, label_smoothing, class_dim):
    """-sum_c w_c p_c log softmax(x)_c per sample; "mean" divides by the number of samples."""
    if ignore_index >= 0:
        raise RuntimeError("cross_entropy: ignore_index is not supported for class-probability targets")
    classes = input.shape[class_dim]
    logp = input.log_softmax(class_dim)
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / classes
    w = _class_weight("cross_entropy", weight, classes)
    if w is not None:
        logp = logp * w.reshape((classes,) + (1,) * (input.ndim - 1 - class_dim))
    loss = -(logp * target).sum(class_dim)
    if reduction == "mean":
        return loss.sum() / (input.numel() // classes)
    return _reduce(loss, reduction)


def _same_shape_or_warn(op: str, input: Tensor, target: Tensor) -> None:
    if tuple(target.shape) == tuple(input.shape):
        return
    try:
        np.broadcast_shapes(tuple(input.shape), tuple(target.shape))
    except ValueError:
        raise RuntimeError(f"{op}: input of shape {tuple(input.shape)} and target of shape {tuple(target.shape)} "
                           "cannot be broadcast together; they should have the same shape") from None
    warnings.warn(f"{op}: Using a target size ({tuple(target.shape)}) that is different to the input size "
                  f"({tuple(input.shape)}). This will likely lead to incorrect results due to broadcasting "
                  f"(e.g. (N, 1) against (N,) gives an (N, N) loss). Please ensure they have the same size.",
                  stacklevel=3)


def _pointwise_loss(op: str, errors: Tensor, weight: Tensor | None, input: Tensor, reduction: str) -> Tensor:
    if weight is None:
        return _reduce(errors, reduction)
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")
    errors = errors * weight
    return errors.sum() / weight.sum() if reduction == "mean" else _reduce(errors, reduction)


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
             weight: Tensor | None = None) -> Tensor:
    """(x - y)^2, reduced. Different but broadcastable shapes warn (as PyTorch), others raise."""
    target = _as_target(target)
    _same_shape_or_warn("mse_loss", input, target)
    reduction = _reduction(size_average, reduce, reduction)
    diff = input - target
    return _pointwise_loss("mse_loss", diff * diff, weight, input, reduction)


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
            weight: Tensor | None = None) -> Tensor:
    """|x - y|, reduced."""
    target = _as_target(target)
    _same_shape_or_warn("l1_loss", input, target)
    reduction = _reduction(size_average, reduce, reduction)
    return _pointwise_loss("l1_loss", (input - target).abs(), weight, input, reduction)


def _same_shape(op: str, input: Tensor, target: Tensor) -> None:
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{op}: Using a target size ({tuple(target.shape)}) that is different to the input size "
                         f"({tuple(input.shape)}) is not supported. Please ensure they have the same size "
                         f"(e.g. target.view_as(input), or squeeze the input's trailing 1).")


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                         reduce=None, reduction: str = "mean") -> Tensor:
    """-w (t log x + (1 - t) log(1 - x)) for probabilities x in [0, 1]."""
    reduction = _reduction(size_average, reduce, reduction)
    target = _as_target(target)
    _same_shape("binary_cross_entropy", input, target)
    loss = L.BinaryCrossEntropy.apply(input, _float(target).to(input.dtype))
    return _reduce(loss if weight is None else loss * weight, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average=None, reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """sigmoid + binary cross-entropy in one stable expression; pos_weight scales the positive term."""
    reduction = _reduction(size_average, reduce, reduction)
    target = _as_target(target)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"binary_cross_entropy_with_logits: Target size ({tuple(target.shape)}) must be the same "
                         f"as input size ({tuple(input.shape)})")
    loss = L.BinaryCrossEntropyWithLogits.apply(input, _float(target).to(input.dtype), pos_weight)
    return _reduce(loss if weight is None else loss * weight, reduction)


__all__ = ["relu", "leaky_relu", "elu", "gelu", "silu", "softplus", "hardtanh", "relu6", "prelu", "sigmoid", "tanh",
           "softmax", "log_softmax", "linear", "conv2d", "conv_transpose2d",
           "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "dropout", "dropout2d", "batch_norm", "layer_norm",
           "group_norm", "embedding", "one_hot",
           "flatten", "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits"]
