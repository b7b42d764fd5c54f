"""Image kernels with the names and float semantics of ``torchvision.transforms.v2.functional``.

The random transforms of :mod:`gradwise.augment.vision` draw their parameters and then
call these deterministic functions, so "the same drawn factors give the same pixels as
torchvision" can be checked kernel by kernel (``tests/test_augment_vision.py`` compares
them with PyTorch's own ``grid_sample`` and ``interpolate``).  Images are float NumPy
arrays of shape (..., C, H, W) with values in [0, 1]; outputs keep the input's dtype.

* Colour: ``adjust_brightness/contrast/saturation/hue/sharpness``, ``posterize``,
  ``solarize``, ``autocontrast``, ``equalize``, ``invert``, ``rgb_to_grayscale``.
* Geometry: ``hflip``, ``vflip``, ``crop``, ``center_crop``, ``pad``, ``resize``,
  ``resized_crop``, ``rotate``, ``affine``, ``erase``.

As torchvision does for tensors: ``rotate``/``affine`` sample like ``torch.grid_sample``
(``align_corners=False``, zero padding) and support ``"nearest"`` and ``"bilinear"``; a
``fill`` (even 0) is blended in through a resampled coverage mask, ``fill=None`` leaves
plain zero padding.  ``resize`` is ``torch.nn.functional.interpolate``: ``antialias=True``
(the default) uses Pillow-style filters (triangle / Keys cubic a=-0.5) widened when
shrinking, ``antialias=False`` the classic two- and four-tap kernels (cubic a=-0.75).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from enum import Enum
from typing import Any

import numpy as np

__all__ = [
    "InterpolationMode", "rgb_to_grayscale", "adjust_brightness", "adjust_contrast", "adjust_saturation",
    "adjust_hue", "adjust_sharpness", "posterize", "solarize", "autocontrast", "equalize", "invert",
    "rgb_to_hsv", "hsv_to_rgb", "hflip", "vflip", "crop", "center_crop", "pad", "resize", "resized_crop",
    "rotate", "affine", "erase",
]

GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # ITU-R 601 luma, as torchvision's rgb_to_grayscale


class InterpolationMode(str, Enum):
    """torchvision's interpolation names; plain strings (``"bilinear"``) work as well."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


_PIL_CODES = {0: InterpolationMode.NEAREST, 2: InterpolationMode.BILINEAR, 3: InterpolationMode.BICUBIC,
              4: InterpolationMode.BOX, 5: InterpolationMode.HAMMING, 1: InterpolationMode.LANCZOS}


def check_interpolation(interpolation: Any) -> InterpolationMode:
    """An :class:`InterpolationMode` from a mode, its string value or a Pillow integer constant."""
    if isinstance(interpolation, InterpolationMode):
        return interpolation
    if isinstance(interpolation, (int, np.integer)) and not isinstance(interpolation, bool):
        if int(interpolation) in _PIL_CODES:
            return _PIL_CODES[int(interpolation)]
    value = getattr(interpolation, "value", interpolation)  # e.g. torchvision's own enum
    if isinstance(value, str):
        try:
            return InterpolationMode(value.lower())
        except ValueError:
            pass
    raise ValueError(
        "Argument interpolation should be an `InterpolationMode` or a corresponding Pillow integer constant, "
        f"but got {interpolation}.")


# ---- helpers ---------------------------------------------------------------------------
def _image(img: Any) -> np.ndarray:
    x = np.asarray(img)
    if x.ndim < 3:
        raise ValueError(f"expected an image of shape (..., C, H, W), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"expected a float image with values in [0, 1], got dtype {x.dtype}")
    return x


def _one_or_three(img: np.ndarray) -> int:
    c = img.shape[-3]
    if c not in (1, 3):
        raise TypeError(f"Input image tensor permitted channel values are 1 or 3, but found {c}")
    return c


def _factor(value: Any, x: np.ndarray) -> np.ndarray:
    """A scalar factor, or one per image of an (N, ...) batch, shaped to broadcast over (..., C, H, W)."""
    f = np.asarray(value, dtype=np.float64)
    return f.reshape(f.shape + (1,) * (x.ndim - f.ndim)) if f.ndim else f


def _blend(a: np.ndarray, b: np.ndarray | float, ratio: Any) -> np.ndarray:
    """``ratio * a + (1 - ratio) * b`` clamped to [0, 1] (torchvision's ``_blend`` for floats)."""
    r = _factor(ratio, a).astype(a.dtype)
    return np.clip(a * r + b * (1 - r), 0.0, 1.0).astype(a.dtype, copy=False)


def _gray(img: np.ndarray) -> np.ndarray:
    """(..., 3, H, W) -> (..., 1, H, W) luma in the input's float dtype; 1 channel -> itself."""
    if img.shape[-3] == 1:
        return img
    r, g, b = img[..., 0, :, :], img[..., 1, :, :], img[..., 2, :, :]
    return (r * GRAY_WEIGHTS[0] + g * GRAY_WEIGHTS[1] + b * GRAY_WEIGHTS[2])[..., None, :, :].astype(img.dtype)


def _check_nonneg(name: str, value: Any) -> None:
    if np.any(np.asarray(value) < 0):
        raise ValueError(f"{name} ({value}) is not non-negative.")


# ---- colour ------------------------------------------------------------------------------
def rgb_to_grayscale(img: Any, num_output_channels: int = 1) -> np.ndarray:
    """Luma ``0.2989 R + 0.587 G + 0.114 B`` with 1 or 3 (repeated) output channels."""
    x = _image(img)
    if num_output_channels not in (1, 3):
        raise ValueError(f"num_output_channels must be 1 or 3, got {num_output_channels}.")
    gray = _gray(x).copy() if x.shape[-3] == 1 else _gray(x)
    return np.repeat(gray, num_output_channels, axis=-3) if num_output_channels == 3 else gray


def adjust_brightness(img: Any, brightness_factor: Any) -> np.ndarray:
    """``factor * img`` clamped to [0, 1] (0: black, 1: unchanged)."""
    x = _image(img)
    _check_nonneg("brightness_factor", brightness_factor)
    _one_or_three(x)
    f = _factor(brightness_factor, x).astype(x.dtype)
    return np.clip(x * f, 0.0, 1.0).astype(x.dtype, copy=False)


def adjust_contrast(img: Any, contrast_factor: Any) -> np.ndarray:
    """Blend with the image's mean grey level (0: flat grey, 1: unchanged)."""
    x = _image(img)
    _check_nonneg("contrast_factor", contrast_factor)
    _one_or_three(x)
    mean = _gray(x).mean(axis=(-3, -2, -1), keepdims=True, dtype=np.float64).astype(x.dtype)
    return _blend(x, mean, contrast_factor)


def adjust_saturation(img: Any, saturation_factor: Any) -> np.ndarray:
    """Blend with the greyscale image (0: grey, 1: unchanged); single-channel images are returned as they are."""
    x = _image(img)
    _check_nonneg("saturation_factor", saturation_factor)
    if _one_or_three(x) == 1:
        return x
    return _blend(x, _gray(x), saturation_factor)


def _hue_sextants(x: np.ndarray, maxc: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """HSV hue of (..., 3, H, W) RGB in units of 60 degrees (range [-1, 5)), given max and max - min.

    Red max -> (g - b) / chroma, green max -> 2 + (b - r) / chroma, blue max -> 4 + (r - g) / chroma.
    Written with float masks instead of ``np.where``: this is the hot path of hue jitter.
    """
    r, g, b = x[..., 0, :, :], x[..., 1, :, :], x[..., 2, :, :]
    red = maxc == r
    green = (maxc == g) & ~red
    blue = (~(red | green)).astype(x.dtype)
    red, green = red.astype(x.dtype), green.astype(x.dtype)
    h = red * (g - b) + green * (b - r) + blue * (r - g)
    h /= np.maximum(chroma, np.finfo(x.dtype).tiny)
    h += 2 * green + 4 * blue
    return h


def _rgb(sextants: np.ndarray, maxc: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """RGB from hue (in sextants, any real), value (= max) and chroma (= v * s).

    channel c = v - chroma * clip(min(k, 4 - k), 0, 1) with k = (n_c + hue) mod 6, n = (5, 3, 1).
    """
    k = sextants[..., None, :, :] + np.array([5, 3, 1], dtype=sextants.dtype)[:, None, None]
    k -= 6 * np.floor(k * (1 / 6))
    np.minimum(k, 4 - k, out=k)
    np.clip(k, 0, 1, out=k)
    k *= chroma[..., None, :, :]
    return np.subtract(maxc[..., None, :, :], k, out=k)


def rgb_to_hsv(img: Any) -> np.ndarray:
    """(..., 3, H, W) RGB in [0, 1] -> HSV, hue in [0, 1) (same values as torchvision's)."""
    x = np.asarray(img)
    maxc = x.max(axis=-3)
    chroma = maxc - x.min(axis=-3)
    hue = _hue_sextants(x, maxc, chroma) / 6 % 1
    return np.stack([hue, chroma / np.where(maxc == 0, 1, maxc), maxc], axis=-3)


def hsv_to_rgb(img: Any) -> np.ndarray:
    """Inverse of :func:`rgb_to_hsv`."""
    x = np.asarray(img)
    h, s, v = x[..., 0, :, :], x[..., 1, :, :], x[..., 2, :, :]
    return _rgb(6 * h, v, v * s)


def adjust_hue(img: Any, hue_factor: Any) -> np.ndarray:
    """Rotate the HSV hue by ``hue_factor`` turns, in [-0.5, 0.5] (saturation and value kept).

    Computed in float32, as torchvision does; single-channel images are returned as they are.
    """
    x = _image(img)
    h = np.asarray(hue_factor, dtype=np.float64)
    if np.any((h < -0.5) | (h > 0.5)):
        raise ValueError(f"hue_factor ({hue_factor}) is not in [-0.5, 0.5].")
    if _one_or_three(x) == 1 or x.size == 0:
        return x
    x32 = x.astype(np.float32, copy=False)
    maxc = x32.max(axis=-3)
    chroma = maxc - x32.min(axis=-3)
    sextants = _hue_sextants(x32, maxc, chroma)
    sextants += (6 * _factor(h, maxc)).astype(np.float32)
    return _rgb(sextants, maxc, chroma).astype(x.dtype, copy=False)


def adjust_sharpness(img: Any, sharpness_factor: Any) -> np.ndarray:
    """Blend with a 3x3 smoothed copy (kernel 1-1-1 / 1-5-1 / 1-1-1 over 13) inside the border.

    0 gives the smoothed image, 1 the original, 2 a sharpened one; the one-pixel border is kept.
    """
    x = _image(img)
    c, h, w = x.shape[-3:]
    if c not in (1, 3):
        raise TypeError(f"Input image tensor can have 1 or 3 channels, but found {c}")
    _check_nonneg("sharpness_factor", sharpness_factor)
    if x.size == 0 or h <= 2 or w <= 2:
        return x
    box = (x[..., :-2, :-2] + x[..., :-2, 1:-1] + x[..., :-2, 2:] + x[..., 1:-1, :-2] + x[..., 1:-1, 2:]
           + x[..., 2:, :-2] + x[..., 2:, 1:-1] + x[..., 2:, 2:]) * (1.0 / 13.0) + x[..., 1:-1, 1:-1] * (5.0 / 13.0)
    out = x.copy()
    inner = out[..., 1:-1, 1:-1]
    f = _factor(sharpness_factor, x).astype(x.dtype)
    inner += (1 - f) * (box.astype(x.dtype) - inner)
    return np.clip(out, 0.0, 1.0, out=out)


def posterize(img: Any, bits: int) -> np.ndarray:
    """Keep ``bits`` bits per channel: ``floor(x * 2**bits) / 2**bits`` (clamped to the top level)."""
    x = _image(img)
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 0 <= bits <= 8:
        raise TypeError(f"bits must be a positive integer in the range [0, 8], got {bits} instead.")
    levels = 1 << int(bits)
    return (np.clip(np.floor(x * levels), 0, levels - 1) * (1.0 / levels)).astype(x.dtype, copy=False)


def invert(img: Any) -> np.ndarray:
    """``1 - x``."""
    x = _image(img)
    return (1.0 - x).astype(x.dtype, copy=False)


def solarize(img: Any, threshold: float) -> np.ndarray:
    """Invert the pixels at or above ``threshold`` (in [0, 1])."""
    x = _image(img)
    if threshold > 1.0:
        raise TypeError(f"Threshold should be less or equal the maximum value of the dtype, but got {threshold}")
    return np.where(x >= threshold, 1.0 - x, x).astype(x.dtype, copy=False)


def autocontrast(img: Any) -> np.ndarray:
    """Stretch each channel so that its darkest pixel becomes 0 and its brightest 1."""
    x = _image(img)
    _one_or_three(x)
    if x.size == 0:
        return x
    lo = x.min(axis=(-2, -1), keepdims=True)
    span = x.max(axis=(-2, -1), keepdims=True) - lo
    flat = span == 0
    lo = np.where(flat, 0, lo)
    span = np.where(flat, 1, span)
    return np.clip((x - lo) / span, 0.0, 1.0).astype(x.dtype, copy=False)


def equalize(img: Any) -> np.ndarray:
    """Histogram-equalize each channel on 256 levels (Pillow's lookup table, as torchvision).

    The float image is quantized like torchvision's ``to_dtype(uint8, scale=True)``
    (``x * (256 - 1e-3)`` truncated), equalized, and mapped back with ``/ 255``.
    """
    x = _image(img)
    if x.size == 0:
        return x
    shape = x.shape
    q = np.clip(x * (255.0 + 1.0 - 1e-3), 0, 255).astype(np.int64).reshape(-1, shape[-2] * shape[-1])
    rows, n = q.shape
    hist = np.bincount((q + 256 * np.arange(rows)[:, None]).ravel(), minlength=256 * rows).reshape(rows, 256)
    cum = np.cumsum(hist, axis=1)
    last = cum.argmax(axis=1)  # the highest level present
    step = (n - hist[np.arange(rows), last]) // 255
    lut = np.zeros((rows, 256), dtype=np.int64)
    lut[:, 1:] = np.clip((cum[:, :-1] + step[:, None] // 2) // np.maximum(step, 1)[:, None], 0, 255)
    out = np.where((step != 0)[:, None], np.take_along_axis(lut, q, axis=1), q)
    return (out.reshape(shape).astype(x.dtype) * (1.0 / 255.0)).astype(x.dtype, copy=False)


# ---- flips, crops, padding ---------------------------------------------------------------
def hflip(img: Any) -> np.ndarray:
    """Mirror left-right."""
    return np.asarray(img)[..., ::-1].copy()


def vflip(img: Any) -> np.ndarray:
    """Mirror top-bottom."""
    return np.asarray(img)[..., ::-1, :].copy()


def parse_padding(padding: Any) -> tuple[int, int, int, int]:
    """torchvision's padding forms (int, [all], [left/right, top/bottom], [l, t, r, b]) -> (l, t, r, b)."""
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        return (int(padding),) * 4
    if isinstance(padding, (tuple, list)):
        if len(padding) == 1:
            return (int(padding[0]),) * 4
        if len(padding) == 2:
            return int(padding[0]), int(padding[1]), int(padding[0]), int(padding[1])
        if len(padding) == 4:
            return tuple(int(p) for p in padding)  # type: ignore[return-value]
        raise ValueError(f"Padding must be an int or a 1, 2, or 4 element tuple or list. Found {len(padding)}")
    raise TypeError(f"`padding` should be an integer or tuple or list of integers, but got {padding}")


def _fill_values(fill: Any, channels: int) -> np.ndarray:
    """A fill value as one number per channel."""
    v = np.atleast_1d(np.asarray(0.0 if fill is None else fill, dtype=np.float64))
    if v.size == 1:
        return np.full(channels, float(v[0]))
    if v.size != channels:
        raise ValueError("The number of elements in 'fill' cannot broadcast to match the number of "
                         f"channels of the image ({v.size} != {channels})")
    return v


def pad(img: Any, padding: Any, fill: Any = None, padding_mode: str = "constant") -> np.ndarray:
    """Pad the last two axes; ``padding`` as torchvision (left, top, right, bottom order)."""
    x = np.asarray(img)
    left, top, right, bottom = parse_padding(padding)
    if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
        raise ValueError("`padding_mode` should be either `'constant'`, `'edge'`, `'reflect'` or `'symmetric'`, "
                         f"but got `'{padding_mode}'`.")
    if min(left, top, right, bottom) < 0:  # negative padding crops, as torch's pad
        h, w = x.shape[-2:]
        x = x[..., max(-top, 0):h - max(-bottom, 0), max(-left, 0):w - max(-right, 0)]
        left, top, right, bottom = (max(v, 0) for v in (left, top, right, bottom))
    if (left, top, right, bottom) == (0, 0, 0, 0):
        return x.copy()
    if padding_mode != "constant":
        if np.size(fill) > 1:
            raise ValueError(f"Padding mode '{padding_mode}' is not supported if fill is not scalar")
        widths = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
        return np.pad(x, widths, mode=padding_mode)
    h, w = x.shape[-2:]
    fills = _fill_values(fill, x.shape[-3]).astype(x.dtype)[:, None, None]
    out = np.empty(x.shape[:-2] + (h + top + bottom, w + left + right), dtype=x.dtype)
    out[...] = fills
    out[..., top:top + h, left:left + w] = x
    return out


def crop(img: Any, top: int, left: int, height: int, width: int) -> np.ndarray:
    """The window ``[top, top + height) x [left, left + width)``; parts outside the image are 0."""
    x = np.asarray(img)
    h, w = x.shape[-2:]
    if top >= 0 and left >= 0 and top + height <= h and left + width <= w:
        return x[..., top:top + height, left:left + width].copy()
    out = np.zeros(x.shape[:-2] + (height, width), dtype=x.dtype)
    y0, y1 = max(top, 0), min(top + height, h)
    x0, x1 = max(left, 0), min(left + width, w)
    if y1 > y0 and x1 > x0:
        out[..., y0 - top:y1 - top, x0 - left:x1 - left] = x[..., y0:y1, x0:x1]
    return out


def _size_pair(size: Any) -> tuple[int, int]:
    if isinstance(size, numbers.Number):
        return int(size), int(size)  # type: ignore[call-overload]
    size = list(size)
    return (int(size[0]), int(size[0])) if len(size) == 1 else (int(size[0]), int(size[1]))


def center_crop(img: Any, output_size: Any) -> np.ndarray:
    """The centred ``output_size`` window (rounding the offset as torchvision), zero-padded if larger."""
    x = np.asarray(img)
    ch, cw = _size_pair(output_size)
    h, w = x.shape[-2:]
    if ch > h or cw > w:  # pad symmetrically (the extra pixel at the bottom/right), then crop
        pl, pt = ((cw - w) // 2 if cw > w else 0), ((ch - h) // 2 if ch > h else 0)
        pr, pb = ((cw - w + 1) // 2 if cw > w else 0), ((ch - h + 1) // 2 if ch > h else 0)
        x = pad(x, [pl, pt, pr, pb], fill=0.0)
        h, w = x.shape[-2:]
        if (ch, cw) == (h, w):
            return x
    top, left = int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))
    return x[..., top:top + ch, left:left + cw].copy()


def erase(img: Any, i: int, j: int, h: int, w: int, v: Any, inplace: bool = False) -> np.ndarray:
    """Set the ``h`` x ``w`` rectangle at row ``i``, column ``j`` to ``v`` (broadcast over it)."""
    x = np.asarray(img)
    out = x if inplace else x.copy()
    out[..., i:i + h, j:j + w] = v
    return out


# ---- resizing ----------------------------------------------------------------------------
def resized_output_size(height: int, width: int, size: Any, max_size: int | None = None) -> tuple[int, int]:
    """(new_h, new_w) for torchvision's ``size``: [h, w], or [s] / s for the smaller edge, or None with ``max_size``."""
    if isinstance(size, (int, np.integer)):
        size = [int(size)]
    elif max_size is not None and size is not None and len(size) != 1:
        raise ValueError(
            "max_size should only be passed if size is None or specifies the length of the smaller edge, "
            "i.e. size should be an int or a sequence of length 1 in torchscript mode.")
    short, long = (width, height) if width <= height else (height, width)
    if size is None:
        if not isinstance(max_size, int):
            raise ValueError(f"max_size must be an integer when size is None, but got {max_size} instead.")
        new_short, new_long = int(max_size * short / long), max_size
    elif len(size) == 1:
        requested = int(size[0])
        new_short, new_long = requested, int(requested * long / short)
        if max_size is not None:
            if max_size <= requested:
                raise ValueError(f"max_size = {max_size} must be strictly greater than the requested "
                                 f"size for the smaller edge size = {size}")
            if new_long > max_size:
                new_short, new_long = int(max_size * new_short / new_long), max_size
    else:
        return int(size[0]), int(size[1])
    new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
    return new_h, new_w


def _cubic(x: np.ndarray, a: float) -> np.ndarray:
    """Keys' cubic convolution kernel with parameter ``a``."""
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


def _resize_matrix(n_in: int, n_out: int, mode: InterpolationMode, antialias: bool) -> np.ndarray:
    """The (n_out, n_in) matrix of one axis of ``torch.nn.functional.interpolate(align_corners=False)``."""
    m = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    if mode in (InterpolationMode.NEAREST, InterpolationMode.NEAREST_EXACT):
        scale = np.float32(n_in) / np.float32(n_out)  # torch computes these indices in float32
        if mode is InterpolationMode.NEAREST_EXACT:
            src = np.floor((rows.astype(np.float32) + np.float32(0.5)) * scale)
        elif n_out == n_in:
            src = rows
        elif n_out == 2 * n_in:
            src = rows >> 1
        else:
            src = np.floor(rows.astype(np.float32) * scale)
        m[rows, np.minimum(np.asarray(src, dtype=np.int64), n_in - 1)] = 1.0
        return m
    scale = n_in / n_out
    if antialias:  # Pillow-style: the filter is stretched by the scale when shrinking, weights renormalized
        taps = 2 if mode is InterpolationMode.BILINEAR else 4
        support = taps / 2 * scale if scale >= 1 else taps / 2
        stretch = 1 / scale if scale >= 1 else 1.0
        for i in range(n_out):
            center = scale * (i + 0.5)
            lo = max(int(center - support + 0.5), 0)
            hi = min(int(center + support + 0.5), n_in)
            j = np.arange(lo, hi)
            t = (j - center + 0.5) * stretch
            w = np.maximum(0.0, 1 - np.abs(t)) if mode is InterpolationMode.BILINEAR else _cubic(t, -0.5)
            total = w.sum()
            m[i, lo:hi] = w / total if total != 0 else w
        return m
    if mode is InterpolationMode.BILINEAR:
        src = np.maximum(scale * (rows + 0.5) - 0.5, 0.0)
        i0 = src.astype(np.int64)
        i1 = i0 + (i0 < n_in - 1)
        frac = src - i0
        np.add.at(m, (rows, i0), 1 - frac)
        np.add.at(m, (rows, i1), frac)
        return m
    src = scale * (rows + 0.5) - 0.5  # bicubic, a = -0.75, taps clamped to the border
    i0 = np.floor(src)
    t = src - i0
    for k, weight in enumerate((_cubic(t + 1, -0.75), _cubic(t, -0.75), _cubic(1 - t, -0.75), _cubic(2 - t, -0.75))):
        np.add.at(m, (rows, np.clip(i0.astype(np.int64) - 1 + k, 0, n_in - 1)), weight)
    return m


def resize(img: Any, size: Any, interpolation: Any = InterpolationMode.BILINEAR, max_size: int | None = None,
           antialias: bool | None = True) -> np.ndarray:
    """Resize the last two axes to ``size`` (torchvision's meanings of ``size`` and ``max_size``)."""
    x = _image(img)
    mode = check_interpolation(interpolation)
    if mode not in (InterpolationMode.NEAREST, InterpolationMode.NEAREST_EXACT, InterpolationMode.BILINEAR,
                    InterpolationMode.BICUBIC):
        raise ValueError(f"Interpolation mode '{mode.value}' is unsupported with Tensor input")
    antialias = bool(antialias) and mode in (InterpolationMode.BILINEAR, InterpolationMode.BICUBIC)
    h, w = x.shape[-2:]
    oh, ow = resized_output_size(h, w, size, max_size)
    if (oh, ow) == (h, w):
        return x
    mh = _resize_matrix(h, oh, mode, antialias).astype(x.dtype)
    mw = _resize_matrix(w, ow, mode, antialias).astype(x.dtype)
    return np.matmul(mh, np.matmul(x, mw.T))


def resized_crop(img: Any, top: int, left: int, height: int, width: int, size: Any,
                 interpolation: Any = InterpolationMode.BILINEAR, antialias: bool | None = True) -> np.ndarray:
    """:func:`crop` then :func:`resize` (RandomResizedCrop's kernel)."""
    return resize(crop(img, top, left, height, width), size, interpolation=interpolation, antialias=antialias)


# ---- rotations and affine warps ----------------------------------------------------------
def inverse_affine_matrix(center: Sequence[float], angle: float, translate: Sequence[float], scale: float,
                          shear: Sequence[float]) -> list[float]:
    """Output-to-input map ``[a, b, c, d, e, f]`` of ``T C (R S SHy SHx) C^-1``, in centred pixel units.

    ``R`` rotates by ``angle`` degrees clockwise as displayed (torchvision's ``affine``),
    ``SHx`` = [[1, -tan(sx)], [0, 1]], ``SHy`` = [[1, 0], [-tan(sy), 1]], ``S`` scales; the
    forward 2x2 part has determinant ``scale**2``, so its inverse is its adjugate / scale**2.
    """
    rot, sx, sy = math.radians(angle), math.radians(shear[0]), math.radians(shear[1])
    a = math.cos(rot - sy) / math.cos(sy)  # the forward map without scale: [[a, b], [c, d]]
    b = -(a * math.tan(sx) + math.sin(rot))
    c = math.sin(rot - sy) / math.cos(sy)
    d = math.cos(rot) - c * math.tan(sx)
    m = [d / scale, -b / scale, 0.0, -c / scale, a / scale, 0.0]
    cx, cy = center
    px, py = cx + translate[0], cy + translate[1]
    m[2] = cx - m[0] * px - m[1] * py
    m[5] = cy - m[3] * px - m[4] * py
    return m


def _grid_sample(x: np.ndarray, ix: np.ndarray, iy: np.ndarray, mode: str, fill: Any) -> np.ndarray:
    """``torch.grid_sample(align_corners=False, padding_mode="zeros")`` at pixel coordinates (ix, iy).

    ``fill`` (not None) is blended in through the resampled coverage mask, as torchvision:
    nearest: fill where the mask is < 0.5; bilinear: ``(out - fill) * mask + fill``.
    """
    h, w = x.shape[-2:]
    if mode == "nearest":
        cx, cy = np.rint(ix), np.rint(iy)  # round half to even, like nearbyint
        inside = (cx >= 0) & (cx <= w - 1) & (cy >= 0) & (cy <= h - 1)
        xi = np.clip(cx, 0, w - 1).astype(np.intp)
        yi = np.clip(cy, 0, h - 1).astype(np.intp)
        out = np.where(inside, x[..., yi, xi], 0).astype(x.dtype)
        mask = inside.astype(x.dtype)
    else:
        x0, y0 = np.floor(ix), np.floor(iy)
        out = np.zeros(x.shape[:-2] + ix.shape, dtype=x.dtype)
        mask = np.zeros(ix.shape, dtype=x.dtype)
        for xx, wx in ((x0, x0 + 1 - ix), (x0 + 1, ix - x0)):
            for yy, wy in ((y0, y0 + 1 - iy), (y0 + 1, iy - y0)):
                ok = (xx >= 0) & (xx <= w - 1) & (yy >= 0) & (yy <= h - 1)
                weight = (wx * wy * ok).astype(x.dtype)
                out += x[..., np.clip(yy, 0, h - 1).astype(np.intp), np.clip(xx, 0, w - 1).astype(np.intp)] * weight
                mask += weight
    if fill is None:
        return out
    fills = _fill_values(fill, x.shape[-3]).astype(x.dtype)[:, None, None]
    if mode == "nearest":
        return np.where(mask < 0.5, fills, out).astype(x.dtype, copy=False)
    return ((out - fills) * mask + fills).astype(x.dtype, copy=False)


def _apply_affine(x: np.ndarray, matrix: Sequence[float], out_h: int, out_w: int, mode: str, fill: Any) -> np.ndarray:
    """Sample ``x`` on the output grid mapped through ``matrix`` (centred output pixel -> centred input)."""
    h, w = x.shape[-2:]
    xs = np.arange(out_w) - (out_w - 1) / 2
    ys = (np.arange(out_h) - (out_h - 1) / 2)[:, None]
    a, b, c, d, e, f = matrix
    ix = a * xs + b * ys + c + (w - 1) / 2
    iy = d * xs + e * ys + f + (h - 1) / 2
    return _grid_sample(x, ix, iy, mode, fill)


def _grid_mode(interpolation: Any) -> str:
    mode = check_interpolation(interpolation)
    if mode not in (InterpolationMode.NEAREST, InterpolationMode.BILINEAR):
        raise ValueError(f"Interpolation mode '{mode.value}' is unsupported with Tensor input")
    return mode.value


def _check_fill(fill: Any, channels: int) -> None:
    if fill is None:
        return
    if isinstance(fill, (tuple, list)):
        if len(fill) > 1 and len(fill) != channels:
            raise ValueError("The number of elements in 'fill' cannot broadcast to match the number of "
                             f"channels of the image ({len(fill)} != {channels})")
    elif not isinstance(fill, numbers.Real):
        raise ValueError("Argument fill should be either int, float, tuple or list")


def _centered(center: Sequence[float] | None, w: int, h: int) -> list[float]:
    """torchvision's ``center`` (x, y from the top-left corner) relative to the image centre."""
    return [0.0, 0.0] if center is None else [float(center[0]) - w * 0.5, float(center[1]) - h * 0.5]


def _expanded_size(matrix: Sequence[float], w: int, h: int) -> tuple[int, int]:
    """(w, h) holding the whole warped image, computed in float32 with torchvision's 1e-4 truncation."""
    m = np.asarray(matrix, dtype=np.float32).reshape(2, 3)
    hw, hh = np.float32(0.5 * w), np.float32(0.5 * h)
    pts = np.array([[-hw, -hh, 1], [-hw, hh, 1], [hw, hh, 1], [hw, -hh, 1]], dtype=np.float32)
    moved = pts @ m.T
    halves = np.array([hw, hh], dtype=np.float32)
    lo, hi = moved.min(axis=0) + halves, moved.max(axis=0) + halves
    tol, inv = np.float32(1e-4), np.float32(1e4)
    size = np.ceil(np.trunc(hi * inv) * tol) - np.floor(np.trunc(lo * inv) * tol)
    return int(size[0]), int(size[1])


def rotate(img: Any, angle: float, interpolation: Any = InterpolationMode.NEAREST, expand: bool = False,
           center: Sequence[float] | None = None, fill: Any = None) -> np.ndarray:
    """Rotate by ``angle`` degrees counter-clockwise (as displayed) about ``center`` (default: the middle).

    Multiples of 90 degrees about the centre are exact transposes (``np.rot90``), as in torchvision.
    """
    x = _image(img)
    angle = angle % 360
    if center is None:
        if angle == 0:
            return x.copy()
        if angle == 180:
            return np.rot90(x, 2, axes=(-2, -1)).copy()
        if expand or x.shape[-1] == x.shape[-2]:
            if angle in (90, 270):
                return np.rot90(x, int(angle) // 90, axes=(-2, -1)).copy()
    mode = _grid_mode(interpolation)
    h, w = x.shape[-2:]
    _check_fill(fill, x.shape[-3])
    matrix = inverse_affine_matrix(_centered(center, w, h), -angle, [0.0, 0.0], 1.0, [0.0, 0.0])
    ow, oh = _expanded_size(matrix, w, h) if expand else (w, h)
    return _apply_affine(x, matrix, oh, ow, mode, fill)


def affine(img: Any, angle: float, translate: Sequence[float], scale: float, shear: Any,
           interpolation: Any = InterpolationMode.NEAREST, fill: Any = None,
           center: Sequence[float] | None = None) -> np.ndarray:
    """Rotate (``angle`` degrees, clockwise as torchvision's ``affine``), translate (pixels), scale, shear.

    ``shear`` is degrees, a number (x only) or [x, y]; ``center`` as in :func:`rotate`.
    """
    x = _image(img)
    if not isinstance(angle, numbers.Real):
        raise TypeError("Argument angle should be int or float")
    if not isinstance(translate, (list, tuple)):
        raise TypeError("Argument translate should be a sequence")
    if len(translate) != 2:
        raise ValueError("Argument translate should be a sequence of length 2")
    if scale <= 0.0:
        raise ValueError("Argument scale should be positive")
    if isinstance(shear, numbers.Real):
        shear = [shear, 0.0]
    elif isinstance(shear, (list, tuple)):
        shear = list(shear) if len(shear) != 1 else [shear[0], shear[0]]
        if len(shear) != 2:
            raise ValueError(f"Shear should be a sequence containing two values. Got {shear}")
    else:
        raise TypeError("Shear should be either a single value or a sequence of two values")
    if center is not None and not isinstance(center, (list, tuple)):
        raise TypeError("Argument center should be a sequence")
    h, w = x.shape[-2:]
    matrix = inverse_affine_matrix(_centered(center, w, h), float(angle), [float(t) for t in translate],
                                   float(scale), [float(s) for s in shear])
    mode = _grid_mode(interpolation)
    _check_fill(fill, x.shape[-3])
    return _apply_affine(x, matrix, h, w, mode, fill)
