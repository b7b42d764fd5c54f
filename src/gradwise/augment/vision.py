"""Image augmentations on (C, H, W) float arrays, with torchvision's names and arguments.

Vision is the modality of the lecture's tennis-ball example: a poorly trained network
thinks a shifted, flipped or recoloured ball is a different object, so we show it
"slightly modified copies of already existing data" -- flips, crops, rotations, affine
warps, colour jitter, noise and erasing -- and it learns the invariance instead of
memorising pixels (the regularizing effect).

Conventions
-----------
* A sample is a float array of shape (C, H, W) (like a torch tensor), values in [0, 1]
  for the colour transforms (which clamp to [0, 1], as torchvision does for floats).
  ``apply_batch`` takes (N, C, H, W); flips, crops, colour jitter, noise and
  ``Normalize`` are vectorized over the batch, the geometric warps loop over samples.
* Parameters follow :class:`~gradwise.augment.compose.Param`: a number is fixed, a
  ``(low, high)`` pair is sampled uniformly.  This differs from torchvision only where
  torchvision reads a bare number as a symmetric range: ``RandomRotation(30)`` always
  rotates by 30 degrees here; torchvision's meaning is ``RandomRotation((-30, 30))``.
  ``ColorJitter(brightness=(0.6, 1.4))`` is torchvision's ``ColorJitter(brightness=0.4)``.
* Geometric warps use ``scipy.ndimage.affine_transform``; angles are in degrees,
  counter-clockwise as displayed (row 0 at the top), about the image centre.
* ``interpolation`` is ``"nearest"``, ``"bilinear"`` or ``"bicubic"`` (or a spline order).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
try:
    from scipy import ndimage
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("gradwise.augment.vision needs SciPy: pip install 'gradwise[signal]'") from exc

from .compose import Param, Transform

__all__ = [
    "ImageTransform",
    "RandomHorizontalFlip",
    "RandomVerticalFlip",
    "RandomCrop",
    "RandomResizedCrop",
    "RandomRotation",
    "RandomAffine",
    "ColorJitter",
    "GaussianNoise",
    "RandomErasing",
    "Normalize",
]

_ORDERS = {"nearest": 0, "bilinear": 1, "bicubic": 3}
_GRAY = np.array([0.2989, 0.587, 0.114])  # ITU-R 601 luma, torchvision's rgb_to_grayscale


# ---- input checks -------------------------------------------------------------------
def _check_float(x: Any, who: str) -> np.ndarray:
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"{who} expects a float image with values in [0, 1], got dtype {x.dtype}; "
            "convert with x.astype(np.float32) / 255"
        )
    return x


def check_image(x: Any, who: str = "transform", batch: bool = False) -> np.ndarray:
    """Validate one (C, H, W) float image, or an (N, C, H, W) batch; explain layout mistakes."""
    x = _check_float(x, who)
    lead, layout = (1, "(N, C, H, W)") if batch else (0, "(C, H, W)")
    where = f"{who}.apply_batch" if batch else who
    if x.ndim == 3 + lead and x.shape[lead] > 4 and x.shape[-1] in (1, 3, 4):
        order = "(N, H, W, C); use x.transpose(0, 3, 1, 2)" if batch else "(H, W, C); use x.transpose(2, 0, 1)"
        raise ValueError(f"{where} expects {layout}, got shape {x.shape}, which looks like {order}")
    if x.ndim != 3 + lead:
        hint = "" if batch else {2: "; add a channel axis with x[None]",
                                 4: "; for an (N, C, H, W) batch use apply_batch()"}.get(x.ndim, "")
        raise ValueError(f"{where} expects {layout}, got shape {x.shape}{hint}")
    return x


def _pair(size: int | Sequence[int], name: str) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"{name} must be a positive int or an (h, w) pair, got {size!r}")
    return int(size[0]), int(size[1])


def _order(interpolation: str | int) -> int:
    if isinstance(interpolation, str):
        if interpolation not in _ORDERS:
            raise ValueError(f"interpolation must be one of {sorted(_ORDERS)}, got {interpolation!r}")
        return _ORDERS[interpolation]
    return int(interpolation)


def _channel_values(value: float | Sequence[float], channels: int) -> np.ndarray:
    """A fill value broadcast to one number per channel."""
    v = np.asarray(value, dtype=np.float64)
    if v.ndim == 0:
        return np.full(channels, float(v))
    if v.shape != (channels,):
        raise ValueError(f"fill/value has {v.size} entries for {channels} channels")
    return v


# ---- shared geometry ----------------------------------------------------------------
def warp(
    img: np.ndarray,
    inverse: np.ndarray,
    offset: np.ndarray,
    out_shape: tuple[int, int],
    order: int,
    fill: float | Sequence[float] = 0.0,
    mode: str = "grid-constant",
) -> np.ndarray:
    """Resample a (C, H, W) image: ``out[c, r, q] = img[c, inverse @ (r, q) + offset]``.

    ``inverse`` is the 2x2 output-to-input matrix in (row, col) coordinates, as
    ``scipy.ndimage.affine_transform`` wants it; outside the image is ``fill``
    (``"grid-constant"``: edge pixels blend into the fill, like torch's ``grid_sample``).
    """
    fills = _channel_values(fill, img.shape[0])
    out = np.empty((img.shape[0],) + tuple(out_shape), dtype=img.dtype)
    for c in range(img.shape[0]):
        ndimage.affine_transform(img[c], inverse, offset=offset, output_shape=out_shape,
                                 output=out[c], order=order, mode=mode, cval=fills[c])
    return out


def _centered_affine(
    forward_xy: np.ndarray, translate_xy: Sequence[float], center_xy: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse (row, col) matrix and offset of ``out = A (in - c) + c + t`` in (x, y) coordinates."""
    swap = np.array([[0.0, 1.0], [1.0, 0.0]])  # (x, y) <-> (row, col)
    inv_xy = np.linalg.inv(forward_xy)
    c, t = np.asarray(center_xy, float), np.asarray(translate_xy, float)
    return swap @ inv_xy @ swap, swap @ (c - inv_xy @ (c + t))


def _rotation_xy(degrees: float) -> np.ndarray:
    """Counter-clockwise (as displayed, y pointing down) rotation in (x, y) coordinates."""
    a = np.deg2rad(degrees)
    c, s = np.round([np.cos(a), np.sin(a)], 15)  # exact 0 / +-1 at multiples of 90 degrees
    return np.array([[c, s], [-s, c]])


class ImageTransform(Transform):
    """Base of image transforms: (C, H, W) samples, (N, C, H, W) batches."""

    def _check(self, x: Any) -> np.ndarray:
        return check_image(x, type(self).__name__)

    def _check_batch(self, x: Any) -> np.ndarray:
        return check_image(x, type(self).__name__, batch=True)


class _Batched(ImageTransform):
    """An image transform whose logic is written once, vectorized over the batch axis."""

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self._apply_batch(x[None], rng)[0]

    def _apply_batch(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


# ---- flips --------------------------------------------------------------------------
class RandomHorizontalFlip(_Batched):
    """Mirror left-right with probability ``p`` (a horizontal flip keeps most labels)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__(p)

    def _apply_batch(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return x[..., ::-1].copy()


class RandomVerticalFlip(_Batched):
    """Mirror top-bottom with probability ``p`` (only for data without an 'up', e.g. aerial)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__(p)

    def _apply_batch(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return x[..., ::-1, :].copy()


# ---- crops --------------------------------------------------------------------------
def _padding4(padding: int | Sequence[int] | None) -> tuple[int, int, int, int]:
    """torchvision padding -> (left, top, right, bottom)."""
    if padding is None:
        return (0, 0, 0, 0)
    if isinstance(padding, (int, np.integer)):
        return (int(padding),) * 4
    if len(padding) == 2:
        return (int(padding[0]), int(padding[1])) * 2
    if len(padding) == 4:
        return tuple(int(v) for v in padding)  # type: ignore[return-value]
    raise ValueError(f"padding must be an int or a sequence of 2 or 4 ints, got {padding!r}")


def _check_padding_mode(mode: str) -> str:
    if mode not in ("constant", "edge", "reflect", "symmetric"):
        raise ValueError(f"padding_mode must be constant, edge, reflect or symmetric, got {mode!r}")
    return mode


def pad(
    x: np.ndarray,
    left: int, top: int, right: int, bottom: int,
    fill: float | Sequence[float] = 0.0,
    padding_mode: str = "constant",
) -> np.ndarray:
    """Pad the last two axes of (..., C, H, W); ``fill`` may be one value per channel.

    ``padding_mode``: ``"constant"`` (``fill``), ``"edge"`` (repeat the border pixel),
    ``"reflect"`` (mirror without repeating the border) or ``"symmetric"`` (with).
    """
    if (left, top, right, bottom) == (0, 0, 0, 0):
        return x
    if _check_padding_mode(padding_mode) != "constant":
        widths = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
        return np.pad(x, widths, mode=padding_mode)
    h, w = x.shape[-2:]
    fills = _channel_values(fill, x.shape[-3]).astype(x.dtype)[:, None, None]
    out = np.empty(x.shape[:-2] + (h + top + bottom, w + left + right), dtype=x.dtype)
    out[...] = fills
    out[..., top:top + h, left:left + w] = x
    return out


class RandomCrop(_Batched):
    """Cut a random ``size`` window, after optional ``padding`` (torchvision's RandomCrop).

    The standard CIFAR recipe is ``RandomCrop(32, padding=4)``: translations of up to 4
    pixels.  ``pad_if_needed`` pads images smaller than ``size``.
    """

    def __init__(
        self,
        size: int | Sequence[int],
        padding: int | Sequence[int] | None = None,
        pad_if_needed: bool = False,
        fill: float | Sequence[float] = 0.0,
        padding_mode: str = "constant",
    ) -> None:
        super().__init__(p=1.0)
        self.size = _pair(size, "size")
        self.padding = _padding4(padding)
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = _check_padding_mode(padding_mode)

    def _apply_batch(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        left, top, right, bottom = self.padding
        th, tw = self.size
        h, w = x.shape[-2] + top + bottom, x.shape[-1] + left + right
        if self.pad_if_needed:
            dw, dh = max(tw - w, 0), max(th - h, 0)
            left, right, top, bottom = left + dw, right + dw, top + dh, bottom + dh
            h, w = h + 2 * dh, w + 2 * dw
        if h < th or w < tw:
            raise ValueError(
                f"RandomCrop: crop size {self.size} is larger than the (padded) image "
                f"({h}, {w}); use pad_if_needed=True"
            )
        x = pad(x, left, top, right, bottom, self.fill, self.padding_mode)
        n = len(x)
        i = rng.integers(0, h - th + 1, size=n)
        j = rng.integers(0, w - tw + 1, size=n)
        windows = sliding_window_view(x, (th, tw), axis=(-2, -1))  # (N, C, h', w', th, tw)
        return windows[np.arange(n), :, i, j]


class RandomResizedCrop(ImageTransform):
    """Crop a random area and aspect ratio, then resize to ``size`` (the Inception crop).

    Area fraction ~ ``scale`` (uniform), aspect ratio w/h ~ ``ratio`` (log-uniform); 10
    tries as in torchvision, then a centre crop with the ratio clamped into ``ratio``.
    Resizing samples pixel centres (``align_corners=False``) with border clamping and no
    anti-aliasing prefilter (torchvision's ``antialias=False``).
    """

    def __init__(
        self,
        size: int | Sequence[int],
        scale: float | tuple[float, float] = (0.08, 1.0),
        ratio: float | tuple[float, float] = (3 / 4, 4 / 3),
        interpolation: str | int = "bilinear",
    ) -> None:
        super().__init__(p=1.0)
        self.size = _pair(size, "size")
        self.scale = Param(scale, "scale", bounds=(0.0, 1.0))
        self.ratio = Param(ratio, "ratio", log=True)
        self.interpolation = interpolation
        self._order = _order(interpolation)

    def crop_box(self, height: int, width: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
        """(top, left, h, w) of a random crop of a ``height`` x ``width`` image."""
        area = height * width
        for _ in range(10):
            target = area * self.scale.sample(rng)
            aspect = self.ratio.sample(rng)
            w = int(round(np.sqrt(target * aspect)))
            h = int(round(np.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
        in_ratio = width / height
        if in_ratio < self.ratio.low:
            w, h = width, int(round(width / self.ratio.low))
        elif in_ratio > self.ratio.high:
            h, w = height, int(round(height * self.ratio.high))
        else:
            h, w = height, width
        return (height - h) // 2, (width - w) // 2, h, w

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        top, left, h, w = self.crop_box(*x.shape[-2:], rng)
        oh, ow = self.size
        sy, sx = h / oh, w / ow
        offset = np.array([top + 0.5 * sy - 0.5, left + 0.5 * sx - 0.5])
        return warp(x, np.diag([sy, sx]), offset, self.size, self._order, mode="nearest")


# ---- rotations and affine warps -----------------------------------------------------
class _Affine(ImageTransform):
    """Shared by RandomRotation and RandomAffine: fill, interpolation, centre handling."""

    def __init__(self, interpolation: str | int, fill: float | Sequence[float],
                 center: Sequence[float] | None, p: float) -> None:
        super().__init__(p)
        self.interpolation, self.fill, self.center = interpolation, fill, center
        self._order = _order(interpolation)

    def _warp(self, x: np.ndarray, forward_xy: np.ndarray, translate_xy: Sequence[float],
              out_shape: tuple[int, int] | None = None) -> np.ndarray:
        h, w = x.shape[-2:]
        center = self.center if self.center is not None else ((w - 1) / 2, (h - 1) / 2)
        inverse, offset = _centered_affine(forward_xy, translate_xy, center)
        if out_shape is not None:  # expand: keep the input centre at the output centre
            shift = np.array([(out_shape[0] - h) / 2, (out_shape[1] - w) / 2])
            offset = offset - inverse @ shift
        return warp(x, inverse, offset, out_shape or (h, w), self._order, self.fill)


class RandomRotation(_Affine):
    """Rotate by ``degrees`` (fixed, or uniform in a ``(low, high)`` range), counter-clockwise.

    ``expand=True`` enlarges the output to hold the whole rotated image; ``fill`` colours
    the uncovered corners; ``center`` is (x, y) in pixels (default: the image centre).
    """

    def __init__(
        self,
        degrees: float | tuple[float, float],
        interpolation: str | int = "nearest",
        expand: bool = False,
        center: Sequence[float] | None = None,
        fill: float | Sequence[float] = 0.0,
        p: float = 1.0,
    ) -> None:
        super().__init__(interpolation, fill, center, p)
        self.degrees = Param(degrees, "degrees")
        self.expand = expand

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        angle = self.degrees.sample(rng)
        rot = _rotation_xy(angle)
        out_shape = None
        if self.expand:
            h, w = x.shape[-2:]
            corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], float).T
            span = np.ptp(rot @ corners, axis=1)
            out_shape = (int(np.ceil(span[1] - 1e-9)) + 1, int(np.ceil(span[0] - 1e-9)) + 1)
        return self._warp(x, rot, (0.0, 0.0), out_shape)


def _shear_params(shear: Any) -> tuple[Param, Param]:
    """shear -> (x shear, y shear) Params, torchvision-style shapes, gradwise's fixed/range rule.

    ``s`` or ``(lo, hi)``: x shear only; ``((xlo, xhi), (ylo, yhi))`` or 4 numbers: both.
    """
    if shear is None:
        return Param(0.0, "shear"), Param(0.0, "shear")
    if isinstance(shear, Sequence) and len(shear) == 4:
        return Param(tuple(shear[:2]), "shear x"), Param(tuple(shear[2:]), "shear y")
    if isinstance(shear, Sequence) and len(shear) == 2 and all(isinstance(s, Sequence) for s in shear):
        return Param(tuple(shear[0]), "shear x"), Param(tuple(shear[1]), "shear y")
    return Param(shear, "shear"), Param(0.0, "shear")


class RandomAffine(_Affine):
    """Rotation, translation, scaling and shear in one resampling (torchvision's RandomAffine).

    * ``degrees``: rotation, counter-clockwise.
    * ``translate=(tx, ty)``: horizontal / vertical shift as a fraction of the width /
      height; each may be fixed or a ``(low, high)`` range, e.g. ``((-0.1, 0.1), (-0.1, 0.1))``
      for torchvision's ``translate=(0.1, 0.1)``.
    * ``scale``: zoom factor (fixed or range).
    * ``shear``: degrees; x shear moves lower rows to the right for positive angles.
      ``s`` / ``(lo, hi)`` is an x shear, ``((xlo, xhi), (ylo, yhi))`` shears both axes.
    """

    def __init__(
        self,
        degrees: float | tuple[float, float] = 0.0,
        translate: tuple[Any, Any] | None = None,
        scale: float | tuple[float, float] | None = None,
        shear: Any = None,
        interpolation: str | int = "nearest",
        fill: float | Sequence[float] = 0.0,
        center: Sequence[float] | None = None,
        p: float = 1.0,
    ) -> None:
        super().__init__(interpolation, fill, center, p)
        self.degrees = Param(degrees, "degrees")
        if translate is not None and (not isinstance(translate, Sequence) or len(translate) != 2):
            raise ValueError(f"translate must be a (tx, ty) pair of fractions, got {translate!r}")
        tx, ty = translate if translate is not None else (0.0, 0.0)
        self.translate = (Param(tx, "translate x", bounds=(-1, 1)), Param(ty, "translate y", bounds=(-1, 1)))
        self.scale = Param(scale if scale is not None else 1.0, "scale", bounds=(1e-6, None))
        self.shear = _shear_params(shear)

    def matrix(self, rng: np.random.Generator) -> tuple[np.ndarray, tuple[float, float]]:
        """Sample the forward 2x2 (x, y) matrix and the translation fractions."""
        rot = _rotation_xy(self.degrees.sample(rng))
        sx, sy = (np.tan(np.deg2rad(s.sample(rng))) for s in self.shear)
        shear = np.array([[1.0, sx], [sy, 1.0]])
        frac = (self.translate[0].sample(rng), self.translate[1].sample(rng))
        return rot @ shear * self.scale.sample(rng), frac

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        forward, (fx, fy) = self.matrix(rng)
        h, w = x.shape[-2:]
        return self._warp(x, forward, (fx * w, fy * h))


# ---- photometric --------------------------------------------------------------------
def _gray(x: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) -> (N, 1, H, W) luma; single-channel images are returned as they are."""
    if x.shape[1] == 1:
        return x
    return np.einsum("nchw,c->nhw", x, _GRAY.astype(x.dtype))[:, None]


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


def rgb_to_hsv(x: np.ndarray) -> np.ndarray:
    """(..., 3, H, W) RGB in [0, 1] -> HSV, hue in [0, 1) (same values as torchvision's)."""
    maxc = x.max(axis=-3)
    chroma = maxc - x.min(axis=-3)
    hue = _hue_sextants(x, maxc, chroma) / 6 % 1
    return np.stack([hue, chroma / np.where(maxc == 0, 1, maxc), maxc], axis=-3)


def hsv_to_rgb(x: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_hsv`."""
    h, s, v = x[..., 0, :, :], x[..., 1, :, :], x[..., 2, :, :]
    return _rgb(6 * h, v, v * s)


def shift_hue(x: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Rotate the HSV hue of an (N, 3, H, W) batch by ``shift[n]`` turns (saturation, value kept)."""
    maxc = x.max(axis=-3)
    chroma = maxc - x.min(axis=-3)
    sextants = _hue_sextants(x, maxc, chroma)
    sextants += (6 * shift.astype(x.dtype))[:, None, None]
    return _rgb(sextants, maxc, chroma)


class ColorJitter(_Batched):
    """Random brightness, contrast, saturation and hue, in a random order (torchvision's).

    Each argument is a factor (fixed or ``(low, high)``; ``None`` skips it):
    brightness multiplies, contrast blends with the mean grey level, saturation blends with
    the greyscale image (1 = unchanged, 0 = grey), hue rotates the HSV hue by a fraction
    of a turn in [-0.5, 0.5].  Results are clamped to [0, 1].  In ``apply_batch`` every
    image gets its own factors; the order of the four operations is drawn once per batch.
    """

    def __init__(
        self,
        brightness: float | tuple[float, float] | None = None,
        contrast: float | tuple[float, float] | None = None,
        saturation: float | tuple[float, float] | None = None,
        hue: float | tuple[float, float] | None = None,
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        nonneg = (0.0, None)
        self.brightness = None if brightness is None else Param(brightness, "brightness", bounds=nonneg)
        self.contrast = None if contrast is None else Param(contrast, "contrast", bounds=nonneg)
        self.saturation = None if saturation is None else Param(saturation, "saturation", bounds=nonneg)
        self.hue = None if hue is None else Param(hue, "hue", bounds=(-0.5, 0.5))

    @staticmethod
    def _blend(x: np.ndarray, other: np.ndarray | float, factor: np.ndarray) -> np.ndarray:
        f = factor.astype(x.dtype)[:, None, None, None]
        return np.clip(f * x + (1 - f) * other, 0.0, 1.0)

    def _apply_batch(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = len(x)
        if x.shape[1] not in (1, 3):
            raise ValueError(f"ColorJitter expects 1 or 3 channels, got {x.shape[1]}")
        if x.shape[1] == 1 and (self.saturation is not None or self.hue is not None):
            raise ValueError("ColorJitter: saturation and hue need RGB (3-channel) images")
        for op in rng.permutation(4):
            if op == 0 and self.brightness is not None:
                x = self._blend(x, 0.0, self.brightness.sample(rng, n))
            elif op == 1 and self.contrast is not None:
                mean = _gray(x).mean(axis=(1, 2, 3), keepdims=True)
                x = self._blend(x, mean, self.contrast.sample(rng, n))
            elif op == 2 and self.saturation is not None:
                x = self._blend(x, _gray(x), self.saturation.sample(rng, n))
            elif op == 3 and self.hue is not None:
                x = shift_hue(x, self.hue.sample(rng, n))
        return x if x.flags.owndata else x.copy()


class GaussianNoise(_Batched):
    """Add N(mean, sigma^2) pixel noise (torchvision.transforms.v2.GaussianNoise).

    ``mean`` and ``sigma`` are fixed or sampled per image; ``clip`` keeps [0, 1].
    """

    def __init__(self, mean: float | tuple[float, float] = 0.0,
                 sigma: float | tuple[float, float] = 0.1, clip: bool = True, p: float = 1.0) -> None:
        super().__init__(p)
        self.mean = Param(mean, "mean")
        self.sigma = Param(sigma, "sigma", bounds=(0.0, None))
        self.clip = clip

    def _apply_batch(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = len(x)
        mu = self.mean.sample(rng, n)[:, None, None, None]
        sd = self.sigma.sample(rng, n)[:, None, None, None]
        noise = rng.standard_normal(x.shape, dtype=np.float32) * sd.astype(np.float32) + mu.astype(np.float32)
        out = (x + noise).astype(x.dtype, copy=False)
        return np.clip(out, 0.0, 1.0, out=out) if self.clip else out


class RandomErasing(ImageTransform):
    """Blank out a random rectangle (Zhong et al. 2017; torchvision's RandomErasing).

    Area fraction ~ ``scale``, aspect ratio h/w ~ ``ratio`` (log-uniform); ``value`` is a
    number, one number per channel, or ``"random"`` (standard normal noise).  Like
    torchvision, the image is left unchanged when 10 tries find no rectangle that fits.
    """

    def __init__(
        self,
        p: float = 0.5,
        scale: float | tuple[float, float] = (0.02, 0.33),
        ratio: float | tuple[float, float] = (0.3, 3.3),
        value: float | Sequence[float] | str = 0.0,
    ) -> None:
        super().__init__(p)
        self.scale = Param(scale, "scale", bounds=(0.0, 1.0))
        self.ratio = Param(ratio, "ratio", log=True)
        if isinstance(value, str) and value != "random":
            raise ValueError(f"value must be a number, a per-channel sequence or 'random', got {value!r}")
        self.value = value

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        c, height, width = x.shape
        for _ in range(10):
            area = height * width * self.scale.sample(rng)
            aspect = self.ratio.sample(rng)
            h, w = int(round(np.sqrt(area * aspect))), int(round(np.sqrt(area / aspect)))
            if 0 < h < height and 0 < w < width:
                i, j = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
                out = x.copy()
                if isinstance(self.value, str):
                    out[:, i:i + h, j:j + w] = rng.standard_normal((c, h, w))
                else:
                    out[:, i:i + h, j:j + w] = _channel_values(self.value, c)[:, None, None]
                return out
        return x


class Normalize(_Batched):
    """``(x - mean) / std`` per channel (deterministic; the last step of a vision pipeline).

    Use the training set's channel statistics, e.g. from
    ``gradwise.data.preprocessing.Standardize(per_channel=True)``.
    """

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]) -> None:
        super().__init__(p=1.0)
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        if np.any(self.std <= 0):
            raise ValueError(f"Normalize: std must be > 0, got {std!r}")

    def _apply_batch(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        c = x.shape[1]
        if len(self.mean) not in (1, c) or len(self.std) not in (1, c):
            raise ValueError(
                f"Normalize has {len(self.mean)} means / {len(self.std)} stds for {c} channels"
            )
        mean = self.mean.astype(x.dtype)[:, None, None]
        std = self.std.astype(x.dtype)[:, None, None]
        return (x - mean) / std
