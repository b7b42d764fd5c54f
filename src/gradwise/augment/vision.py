"""Image augmentations on (C, H, W) float arrays, with torchvision.transforms.v2's names and meanings.

Vision is the modality of the lecture's tennis-ball example: a poorly trained network
thinks a shifted, flipped or recoloured ball is a different object, so we show it
"slightly modified copies of already existing data" -- flips, crops, rotations, affine
warps, colour jitter, noise, erasing, RandAugment, MixUp and CutMix -- and it learns the
invariance instead of memorising pixels (the regularizing effect).

Conventions
-----------
* A sample is a float array of shape (C, H, W) (like a torch tensor), values in [0, 1].
  ``apply_batch`` takes (N, C, H, W) and draws separate parameters for every image
  (torchvision draws one set per call); flips, crops, colour jitter, noise, ``Resize``,
  ``CenterCrop`` and ``Normalize`` are vectorized, the warps loop over the images.
* **Parameters mean what they mean in torchvision v2**, including its validation errors:
  a number x is a range around the identity and ``(min, max)`` the range itself.
  ``RandomRotation(30)``: an angle uniform in [-30, 30]; ``ColorJitter(brightness=0.4)``:
  a factor uniform in [0.6, 1.4]; ``hue=0.1``: a shift in [-0.1, 0.1] turns.
* Randomness comes from gradwise's global generator (``gradwise.manual_seed``) unless a
  transform has its own ``seed=`` (see :mod:`gradwise.augment.compose`).  The drawn
  parameters are then handed to the kernels of :mod:`gradwise.augment.functional`,
  which compute torchvision's pixels; ``get_params`` static methods (torchvision v1's
  spelling, plus ``rng=``) draw them without applying anything.
* Angles are in degrees; ``RandomRotation`` turns counter-clockwise as displayed,
  ``RandomAffine`` clockwise (torchvision's own difference).  ``center`` is (x, y) in
  pixels from the top-left corner of the image.  ``interpolation`` is ``"nearest"`` /
  ``"bilinear"`` (and ``"bicubic"`` for resizing), an :class:`InterpolationMode` or a
  Pillow integer constant.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from gradwise.tensor import random as _random

from . import functional as F
from .compose import Param, Seed, Transform
from .functional import InterpolationMode, check_interpolation, hsv_to_rgb, rgb_to_hsv

__all__ = [
    "ImageTransform",
    "InterpolationMode",
    "RandomHorizontalFlip",
    "RandomVerticalFlip",
    "RandomCrop",
    "CenterCrop",
    "Resize",
    "RandomResizedCrop",
    "RandomRotation",
    "RandomAffine",
    "ColorJitter",
    "GaussianNoise",
    "RandomErasing",
    "Normalize",
    "RandAugment",
    "MixUp",
    "CutMix",
    "rgb_to_hsv",
    "hsv_to_rgb",
]


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


# ---- torchvision's argument rules -----------------------------------------------------
def _check_sequence_input(x: Any, name: str, req_sizes: Sequence[int]) -> None:
    msg = req_sizes[0] if len(req_sizes) < 2 else " or ".join(str(s) for s in req_sizes)
    if not isinstance(x, Sequence):
        raise TypeError(f"{name} should be a sequence of length {msg}.")
    if len(x) not in req_sizes:
        raise ValueError(f"{name} should be a sequence of length {msg}.")


def _setup_angle(x: Any, name: str, req_sizes: Sequence[int] = (2,)) -> list[float]:
    """A number x means [-x, x] (x >= 0); a sequence is taken as given."""
    if isinstance(x, numbers.Number):
        if x < 0:  # type: ignore[operator]
            raise ValueError(f"If {name} is a single number, it must be positive.")
        x = [-x, x]  # type: ignore[operator]
    else:
        _check_sequence_input(x, name, req_sizes)
    return [float(d) for d in x]


def _setup_size(size: Any, error_msg: str) -> tuple[int, int]:
    if isinstance(size, numbers.Number):
        return int(size), int(size)  # type: ignore[call-overload]
    if isinstance(size, Sequence) and len(size) == 1:
        return int(size[0]), int(size[0])
    if not isinstance(size, Sequence) or len(size) != 2:
        raise ValueError(error_msg)
    return int(size[0]), int(size[1])


def _check_fill_arg(fill: Any) -> Any:
    if fill is not None and not isinstance(fill, (numbers.Number, tuple, list)):
        raise TypeError("Got inappropriate fill arg, only Numbers, tuples, lists and dicts are allowed.")
    return fill


def _jitter_range(value: Any, name: str, center: float = 1.0, bound: tuple[float, float] = (0, float("inf")),
                  clip_first_on_zero: bool = True) -> tuple[float, float] | None:
    """ColorJitter's rule: x means [center - x, center + x] (floored at 0 for factors); (min, max) as given.

    ``None`` (skip the adjustment) for ``None`` or a range that is exactly the identity.
    """
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"If {name} is a single number, it must be non negative.")
        low, high = center - float(value), center + float(value)
        if clip_first_on_zero:
            low = max(low, 0.0)
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        low, high = float(value[0]), float(value[1])
    else:
        raise TypeError(f"{name}={value} should be a single number or a sequence with length 2.")
    if not bound[0] <= low <= high <= bound[1]:
        raise ValueError(f"{name} values should be between {bound}, but got {[low, high]}.")
    return None if low == high == center else (low, high)


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    """``rng``, or gradwise's global generator (the one ``gradwise.manual_seed`` seeds)."""
    return rng if rng is not None else _random._rng()


# ---- bases ----------------------------------------------------------------------------
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

    def __init__(self, p: float = 0.5, *, seed: Seed = None) -> None:
        super().__init__(p, seed=seed)

    def _apply_batch(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return x[..., ::-1].copy()


class RandomVerticalFlip(_Batched):
    """Mirror top-bottom with probability ``p`` (only for data without an 'up', e.g. aerial)."""

    def __init__(self, p: float = 0.5, *, seed: Seed = None) -> None:
        super().__init__(p, seed=seed)

    def _apply_batch(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return x[..., ::-1, :].copy()


# ---- crops and resizing ---------------------------------------------------------------
class RandomCrop(_Batched):
    """Cut a random ``size`` window, after optional ``padding`` (torchvision's RandomCrop).

    The standard CIFAR recipe is ``RandomCrop(32, padding=4)``: translations of up to 4
    pixels.  ``padding``: an int (all sides), (left/right, top/bottom) or (left, top,
    right, bottom); ``pad_if_needed`` pads images smaller than ``size``; ``padding_mode``
    is ``"constant"`` (``fill``), ``"edge"``, ``"reflect"`` or ``"symmetric"``.
    """

    def __init__(
        self,
        size: int | Sequence[int],
        padding: int | Sequence[int] | None = None,
        pad_if_needed: bool = False,
        fill: float | Sequence[float] = 0,
        padding_mode: str = "constant",
        *,
        seed: Seed = None,
    ) -> None:
        super().__init__(p=1.0, seed=seed)
        self.size = _setup_size(size, error_msg="Please provide only two dimensions (h, w) for size.")
        if pad_if_needed or padding is not None:
            if padding is not None:
                err = f"Padding must be an int or a 1, 2, or 4 element of tuple or list, got {padding}."
                if isinstance(padding, (tuple, list)):
                    if len(padding) not in (1, 2, 4):
                        raise ValueError(err)
                elif not isinstance(padding, int):
                    raise TypeError(err)
            if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
                raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
        self.padding = padding
        self._ltrb = F.parse_padding(padding) if padding else (0, 0, 0, 0)
        self.pad_if_needed = pad_if_needed
        self.fill = _check_fill_arg(fill)
        self.padding_mode = padding_mode

    def _apply_batch(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        left, top, right, bottom = self._ltrb
        th, tw = self.size
        h, w = x.shape[-2] + top + bottom, x.shape[-1] + left + right
        if self.pad_if_needed:
            dh, dw = max(th - h, 0), max(tw - w, 0)
            left, right, top, bottom = left + dw, right + dw, top + dh, bottom + dh
            h, w = h + 2 * dh, w + 2 * dw
        if h < th or w < tw:
            raise ValueError(
                f"Required crop size {(th, tw)} is larger than {'padded ' if self.padding is not None else ''}"
                f"input image size {(h, w)}. (Use pad_if_needed=True to pad small images.)")
        if (left, top, right, bottom) != (0, 0, 0, 0):
            x = F.pad(x, [left, top, right, bottom], self.fill, self.padding_mode)
        n = len(x)
        i = rng.integers(0, h - th + 1, size=n) if h > th else np.zeros(n, dtype=np.int64)
        j = rng.integers(0, w - tw + 1, size=n) if w > tw else np.zeros(n, dtype=np.int64)
        windows = sliding_window_view(x, (th, tw), axis=(-2, -1))  # (N, C, h', w', th, tw)
        return windows[np.arange(n), :, i, j]


class CenterCrop(_Batched):
    """The centred ``size`` window (zero-padded when the image is smaller), as torchvision. Deterministic."""

    def __init__(self, size: int | Sequence[int]) -> None:
        super().__init__(p=1.0)
        self.size = _setup_size(size, error_msg="Please provide only two dimensions (h, w) for size.")

    def _apply_batch(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return F.center_crop(x, self.size)


class Resize(_Batched):
    """Resize to ``size``: (h, w), or an int (or [int]) for the smaller edge keeping the aspect ratio.

    ``max_size`` caps the longer edge; ``antialias=True`` (torchvision's default) low-pass
    filters when shrinking.  Deterministic.
    """

    def __init__(self, size: int | Sequence[int] | None, interpolation: Any = InterpolationMode.BILINEAR,
                 max_size: int | None = None, antialias: bool | None = True) -> None:
        super().__init__(p=1.0)
        if isinstance(size, int):
            size = [size]
        elif isinstance(size, Sequence) and len(size) in {1, 2}:
            size = list(size)
        elif size is None:
            if not isinstance(max_size, int):
                raise ValueError(f"max_size must be an integer when size is None, but got {max_size} instead.")
        else:
            raise ValueError(
                f"size can be an integer, a sequence of one or two integers, or None, but got {size} instead.")
        self.size = size
        self.interpolation = check_interpolation(interpolation)
        self.max_size = max_size
        self.antialias = antialias

    def _apply_batch(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return F.resize(x, self.size, self.interpolation, self.max_size, self.antialias)


class RandomResizedCrop(ImageTransform):
    """Crop a random area and aspect ratio, then resize to ``size`` (the Inception crop).

    The area fraction is uniform in ``scale`` and the aspect ratio w/h log-uniform in
    ``ratio``; up to 10 tries for a box that fits (torchvision's sampling), else a centre
    crop with the ratio clamped into ``ratio``.  Resizing as :class:`Resize`
    (``antialias=True`` by default).
    """

    def __init__(
        self,
        size: int | Sequence[int],
        scale: Sequence[float] = (0.08, 1.0),
        ratio: Sequence[float] = (3.0 / 4.0, 4.0 / 3.0),
        interpolation: Any = InterpolationMode.BILINEAR,
        antialias: bool | None = True,
        *,
        seed: Seed = None,
    ) -> None:
        super().__init__(p=1.0, seed=seed)
        self.size = _setup_size(size, error_msg="Please provide only two dimensions (h, w) for size.")
        if not isinstance(scale, Sequence):
            raise TypeError("Scale should be a sequence")
        if not isinstance(ratio, Sequence):
            raise TypeError("Ratio should be a sequence")
        if (scale[0] > scale[1]) or (ratio[0] > ratio[1]):
            warnings.warn("Scale and ratio should be of kind (min, max)", stacklevel=2)
        self.scale, self.ratio = tuple(scale), tuple(ratio)
        self.interpolation = check_interpolation(interpolation)
        self.antialias = antialias

    @staticmethod
    def get_params(img: Any, scale: Sequence[float], ratio: Sequence[float],
                   rng: np.random.Generator | None = None) -> tuple[int, int, int, int]:
        """(top, left, height, width) of a random crop of ``img`` (torchvision's 10 tries, then a centre crop)."""
        rng = _rng(rng)
        height, width = np.shape(img)[-2:]
        area = height * width
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(10):
            target_area = area * rng.uniform(scale[0], scale[1])
            aspect = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
            w = int(round(math.sqrt(target_area * aspect)))
            h = int(round(math.sqrt(target_area / aspect)))
            if 0 < w <= width and 0 < h <= height:
                i = int(rng.integers(0, height - h + 1))
                j = int(rng.integers(0, width - w + 1))
                return i, j, h, w
        in_ratio = float(width) / float(height)
        if in_ratio < min(ratio):
            w, h = width, int(round(width / min(ratio)))
        elif in_ratio > max(ratio):
            h, w = height, int(round(height * max(ratio)))
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        top, left, h, w = self.get_params(x, self.scale, self.ratio, rng)
        return F.resized_crop(x, top, left, h, w, list(self.size), self.interpolation, self.antialias)


# ---- rotations and affine warps -----------------------------------------------------
class RandomRotation(ImageTransform):
    """Rotate by an angle uniform in ``degrees``, counter-clockwise as displayed.

    ``degrees``: a number x means [-x, x]; (min, max) is the range.  ``expand=True``
    enlarges the output to hold the whole rotated image; ``fill`` (default 0, one value
    or one per channel) colours the uncovered corners; ``center`` is (x, y) in pixels
    from the top-left corner (default: the image centre).  ``p`` (gradwise's) applies it
    only sometimes.
    """

    def __init__(
        self,
        degrees: float | Sequence[float],
        interpolation: Any = InterpolationMode.NEAREST,
        expand: bool = False,
        center: Sequence[float] | None = None,
        fill: float | Sequence[float] | None = 0,
        p: float = 1.0,
        *,
        seed: Seed = None,
    ) -> None:
        super().__init__(p, seed=seed)
        self.degrees = _setup_angle(degrees, name="degrees", req_sizes=(2,))
        self.interpolation = check_interpolation(interpolation)
        self.expand = expand
        self.fill = _check_fill_arg(fill)
        if center is not None:
            _check_sequence_input(center, "center", req_sizes=(2,))
        self.center = center

    @staticmethod
    def get_params(degrees: Sequence[float], rng: np.random.Generator | None = None) -> float:
        """An angle uniform in ``[degrees[0], degrees[1]]``."""
        return float(_rng(rng).uniform(degrees[0], degrees[1]))

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        angle = self.get_params(self.degrees, rng)
        return F.rotate(x, angle, self.interpolation, self.expand, self.center, self.fill)

    def _apply_batch(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        outs = [self.apply(xi, rng) for xi in x]
        if len({o.shape for o in outs}) > 1:  # expand=True: the size depends on the angle
            raise ValueError("RandomRotation(expand=True).apply_batch: the rotated images have different sizes; "
                             "apply it per sample (or crop/resize afterwards)")
        return np.stack(outs) if outs else x.copy()


class RandomAffine(ImageTransform):
    """Rotation, translation, scaling and shear in one resampling (torchvision's RandomAffine).

    * ``degrees``: a number x means an angle uniform in [-x, x]; (min, max) the range.
      The rotation is clockwise as displayed (torchvision's ``affine`` convention).
    * ``translate=(a, b)``: shifts uniform in [-a * width, a * width] and [-b * height,
      b * height], rounded to whole pixels; a, b in [0, 1].
    * ``scale=(min, max)``: zoom factor uniform in the range (default: 1).
    * ``shear``: degrees; a number x means an x shear in [-x, x], (min, max) an x shear
      in the range, (xmin, xmax, ymin, ymax) both.  A positive x shear moves the rows
      below the centre to the left.
    """

    def __init__(
        self,
        degrees: float | Sequence[float] = 0,
        translate: Sequence[float] | None = None,
        scale: Sequence[float] | None = None,
        shear: float | Sequence[float] | None = None,
        interpolation: Any = InterpolationMode.NEAREST,
        fill: float | Sequence[float] | None = 0,
        center: Sequence[float] | None = None,
        p: float = 1.0,
        *,
        seed: Seed = None,
    ) -> None:
        super().__init__(p, seed=seed)
        self.degrees = _setup_angle(degrees, name="degrees", req_sizes=(2,))
        if translate is not None:
            _check_sequence_input(translate, "translate", req_sizes=(2,))
            for t in translate:
                if not (0.0 <= t <= 1.0):
                    raise ValueError("translation values should be between 0 and 1")
        self.translate = translate
        if scale is not None:
            _check_sequence_input(scale, "scale", req_sizes=(2,))
            for s in scale:
                if s <= 0:
                    raise ValueError("scale values should be positive")
        self.scale = scale
        self.shear = _setup_angle(shear, name="shear", req_sizes=(2, 4)) if shear is not None else None
        self.interpolation = check_interpolation(interpolation)
        self.fill = _check_fill_arg(fill)
        if center is not None:
            _check_sequence_input(center, "center", req_sizes=(2,))
        self.center = center

    @staticmethod
    def get_params(degrees: Sequence[float], translate: Sequence[float] | None, scale_ranges: Sequence[float] | None,
                   shears: Sequence[float] | None, img_size: Sequence[int],
                   rng: np.random.Generator | None = None) -> tuple[float, tuple[int, int], float, tuple[float, float]]:
        """(angle, (tx, ty), scale, (shear_x, shear_y)) for an image of ``img_size = [width, height]``.

        Drawn in torchvision's order: angle, translation, scale, x shear, y shear.
        """
        rng = _rng(rng)
        width, height = img_size
        angle = float(rng.uniform(degrees[0], degrees[1]))
        if translate is not None:
            max_dx, max_dy = float(translate[0] * width), float(translate[1] * height)
            tx = int(round(rng.uniform(-max_dx, max_dx)))
            ty = int(round(rng.uniform(-max_dy, max_dy)))
        else:
            tx, ty = 0, 0
        scale = float(rng.uniform(scale_ranges[0], scale_ranges[1])) if scale_ranges is not None else 1.0
        shear_x = shear_y = 0.0
        if shears is not None:
            shear_x = float(rng.uniform(shears[0], shears[1]))
            if len(shears) == 4:
                shear_y = float(rng.uniform(shears[2], shears[3]))
        return angle, (tx, ty), scale, (shear_x, shear_y)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = x.shape[-2:]
        angle, translate, scale, shear = self.get_params(self.degrees, self.translate, self.scale, self.shear,
                                                         [w, h], rng)
        return F.affine(x, angle, list(translate), scale, list(shear), self.interpolation, self.fill, self.center)


# ---- photometric --------------------------------------------------------------------
class ColorJitter(_Batched):
    """Random brightness, contrast, saturation and hue, in a random order (torchvision's).

    * ``brightness``, ``contrast``, ``saturation``: a number x means a factor uniform in
      [max(0, 1 - x), 1 + x]; (min, max) is the range (>= 0).  Brightness multiplies,
      contrast blends with the mean grey level, saturation with the greyscale image
      (0 = grey, 1 = unchanged).
    * ``hue``: a number x (<= 0.5) means a shift uniform in [-x, x] turns of the HSV hue
      circle; (min, max) within [-0.5, 0.5].
    * ``None`` (or the identity range) skips that adjustment.  Results are clamped to
      [0, 1]; saturation and hue leave single-channel images unchanged.  In
      ``apply_batch`` every image gets its own factors; the order is drawn once per batch.
    """

    def __init__(
        self,
        brightness: float | Sequence[float] | None = None,
        contrast: float | Sequence[float] | None = None,
        saturation: float | Sequence[float] | None = None,
        hue: float | Sequence[float] | None = None,
        p: float = 1.0,
        *,
        seed: Seed = None,
    ) -> None:
        super().__init__(p, seed=seed)
        self.brightness = _jitter_range(brightness, "brightness")
        self.contrast = _jitter_range(contrast, "contrast")
        self.saturation = _jitter_range(saturation, "saturation")
        self.hue = _jitter_range(hue, "hue", center=0, bound=(-0.5, 0.5), clip_first_on_zero=False)

    @staticmethod
    def get_params(brightness: Sequence[float] | None, contrast: Sequence[float] | None,
                   saturation: Sequence[float] | None, hue: Sequence[float] | None,
                   rng: np.random.Generator | None = None,
                   size: int | None = None) -> tuple[np.ndarray, Any, Any, Any, Any]:
        """(order, b, c, s, h): a permutation of the four operations, then each factor (None if skipped).

        ``size=n`` draws n factors of each kind (one per image of a batch).
        """
        rng = _rng(rng)
        order = rng.permutation(4)
        factors = [None if r is None else rng.uniform(r[0], r[1], size=size) for r in (brightness, contrast,
                                                                                        saturation, hue)]
        return (order, *factors)  # type: ignore[return-value]

    def _apply_batch(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        F._one_or_three(x)
        order, b, c, s, h = self.get_params(self.brightness, self.contrast, self.saturation, self.hue, rng, len(x))
        original = x
        for op in order:
            if op == 0 and b is not None:
                x = F.adjust_brightness(x, b)
            elif op == 1 and c is not None:
                x = F.adjust_contrast(x, c)
            elif op == 2 and s is not None:
                x = F.adjust_saturation(x, s)
            elif op == 3 and h is not None:
                x = F.adjust_hue(x, h)
        return x.copy() if x is original else x


class GaussianNoise(_Batched):
    """Add N(mean, sigma^2) pixel noise (torchvision.transforms.v2.GaussianNoise), then clip to [0, 1].

    ``mean``, ``sigma``: a number x means exactly x (as torchvision); gradwise also takes
    a (low, high) pair, drawn uniformly per image.
    """

    def __init__(self, mean: float | tuple[float, float] = 0.0,
                 sigma: float | tuple[float, float] = 0.1, clip: bool = True, p: float = 1.0,
                 *, seed: Seed = None) -> None:
        super().__init__(p, seed=seed)
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
    """Blank out a random rectangle with probability ``p`` (Zhong et al. 2017; torchvision's).

    Area fraction uniform in ``scale``, aspect ratio h/w log-uniform in ``ratio`` (both
    (min, max) sequences); ``value`` is a number, one number per channel, or
    ``"random"`` (standard normal noise).  The image is left unchanged when 10 tries
    find no rectangle that fits.
    """

    def __init__(
        self,
        p: float = 0.5,
        scale: Sequence[float] = (0.02, 0.33),
        ratio: Sequence[float] = (0.3, 3.3),
        value: float | Sequence[float] | str = 0.0,
        inplace: bool = False,
        *,
        seed: Seed = None,
    ) -> None:
        super().__init__(p, seed=seed)
        if not isinstance(value, (numbers.Number, str, tuple, list)):
            raise TypeError("Argument value should be either a number or str or a sequence")
        if isinstance(value, str) and value != "random":
            raise ValueError("If value is str, it should be 'random'")
        if not isinstance(scale, (tuple, list)):
            raise TypeError("Scale should be a sequence")
        if not isinstance(ratio, (tuple, list)):
            raise TypeError("Ratio should be a sequence")
        if (scale[0] > scale[1]) or (ratio[0] > ratio[1]):
            warnings.warn("Scale and ratio should be of kind (min, max)", stacklevel=2)
        if scale[0] < 0 or scale[1] > 1:
            raise ValueError("Scale should be between 0 and 1")
        self.scale, self.ratio = tuple(scale), tuple(ratio)
        self.value = value
        self.inplace = inplace

    @staticmethod
    def get_params(img: Any, scale: Sequence[float], ratio: Sequence[float], value: Any = None,
                   rng: np.random.Generator | None = None) -> tuple[int, int, int, int, np.ndarray | None]:
        """(i, j, h, w, v) of a rectangle of ``img`` (C, H, W); ``v`` None when no rectangle fits.

        ``value=None`` means random normal values.
        """
        rng = _rng(rng)
        c, height, width = np.shape(img)[-3:]
        if value is not None and np.size(value) not in (1, c):
            raise ValueError(
                f"If value is a sequence, it should have either a single value or {c} (number of inpt channels)")
        area = height * width
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(10):
            erase_area = area * rng.uniform(scale[0], scale[1])
            aspect = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
            h = int(round(math.sqrt(erase_area * aspect)))
            w = int(round(math.sqrt(erase_area / aspect)))
            if not (h < height and w < width):
                continue
            if value is None:
                v = rng.standard_normal((c, h, w), dtype=np.float32)
            else:
                v = np.asarray(value, dtype=np.float64).reshape(-1)[:, None, None]
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w, v
        return 0, 0, height, width, None

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        value = None if isinstance(self.value, str) else self.value
        i, j, h, w, v = self.get_params(x, self.scale, self.ratio, value, rng)
        if v is None:
            return x
        return F.erase(x, i, j, h, w, v.astype(x.dtype), inplace=self.inplace)


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


# ---- RandAugment ----------------------------------------------------------------------
def _linspace32(start: float, end: float, steps: int) -> np.ndarray:
    """``torch.linspace`` in float32, bit for bit: a float32 step, each value one fused multiply-add
    (emulated in float64, rounded once), the first half counted from ``start``, the second from ``end``."""
    start32, end32 = np.float32(start), np.float32(end)
    if steps == 1:
        return np.array([start32])
    step = np.float64((end32 - start32) / np.float32(steps - 1))
    idx = np.arange(steps)
    first = np.float64(start32) + step * idx
    second = np.float64(end32) - step * (steps - idx - 1)
    return np.where(idx < steps // 2, first, second).astype(np.float32)


def _posterize_bits(bins: int, top: int = 8) -> np.ndarray:
    levels = np.arange(bins).astype(np.float32) / np.float32((bins - 1) / 4)
    return np.round(np.float32(top) - levels).astype(np.int32)


# op -> (magnitudes(num_bins, height, width) or None, signed): torchvision's RandAugment space
_RANDAUGMENT_SPACE: dict[str, tuple[Callable[[int, int, int], np.ndarray | None], bool]] = {
    "Identity": (lambda n, h, w: None, False),
    "ShearX": (lambda n, h, w: _linspace32(0.0, 0.3, n), True),
    "ShearY": (lambda n, h, w: _linspace32(0.0, 0.3, n), True),
    "TranslateX": (lambda n, h, w: _linspace32(0.0, 150.0 / 331.0 * w, n), True),
    "TranslateY": (lambda n, h, w: _linspace32(0.0, 150.0 / 331.0 * h, n), True),
    "Rotate": (lambda n, h, w: _linspace32(0.0, 30.0, n), True),
    "Brightness": (lambda n, h, w: _linspace32(0.0, 0.9, n), True),
    "Color": (lambda n, h, w: _linspace32(0.0, 0.9, n), True),
    "Contrast": (lambda n, h, w: _linspace32(0.0, 0.9, n), True),
    "Sharpness": (lambda n, h, w: _linspace32(0.0, 0.9, n), True),
    "Posterize": (lambda n, h, w: _posterize_bits(n), False),
    "Solarize": (lambda n, h, w: _linspace32(1.0, 0.0, n), False),
    "AutoContrast": (lambda n, h, w: None, False),
    "Equalize": (lambda n, h, w: None, False),
}


def apply_op(img: np.ndarray, op: str, magnitude: float, interpolation: Any = InterpolationMode.NEAREST,
             fill: Any = None) -> np.ndarray:
    """Apply one RandAugment / AutoAugment operation with its signed ``magnitude`` (torchvision's meanings)."""
    if op == "Identity":
        return img
    if op == "ShearX":  # shear factor ``magnitude`` about the top-left corner
        return F.affine(img, 0.0, [0, 0], 1.0, [math.degrees(math.atan(magnitude)), 0.0], interpolation, fill, [0, 0])
    if op == "ShearY":
        return F.affine(img, 0.0, [0, 0], 1.0, [0.0, math.degrees(math.atan(magnitude))], interpolation, fill, [0, 0])
    if op == "TranslateX":
        return F.affine(img, 0.0, [int(magnitude), 0], 1.0, [0.0, 0.0], interpolation, fill)
    if op == "TranslateY":
        return F.affine(img, 0.0, [0, int(magnitude)], 1.0, [0.0, 0.0], interpolation, fill)
    if op == "Rotate":
        return F.rotate(img, magnitude, interpolation, fill=fill)
    if op == "Brightness":
        return F.adjust_brightness(img, 1.0 + magnitude)
    if op == "Color":
        return F.adjust_saturation(img, 1.0 + magnitude)
    if op == "Contrast":
        return F.adjust_contrast(img, 1.0 + magnitude)
    if op == "Sharpness":
        return F.adjust_sharpness(img, 1.0 + magnitude)
    if op == "Posterize":
        return F.posterize(img, int(magnitude))
    if op == "Solarize":
        return F.solarize(img, 1.0 * magnitude)
    if op == "AutoContrast":
        return F.autocontrast(img)
    if op == "Equalize":
        return F.equalize(img)
    if op == "Invert":
        return F.invert(img)
    raise ValueError(f"No transform available for {op}")


class RandAugment(ImageTransform):
    """RandAugment (Cubuk et al. 2020) with torchvision's operations and magnitudes.

    ``num_ops`` times: pick one of 14 operations uniformly (Identity, ShearX/Y,
    TranslateX/Y, Rotate, Brightness, Color, Contrast, Sharpness, Posterize, Solarize,
    AutoContrast, Equalize) and apply it at strength ``magnitude`` (an index into
    ``num_magnitude_bins`` evenly spaced strengths: shear up to 0.3, translation up to
    150/331 of the size, rotation up to 30 degrees, colour factors 1 +- 0.9, posterize 8
    down to 4 bits, solarize threshold 1 down to 0); signed operations flip their sign
    with probability 1/2.  Works on float images in [0, 1] (torchvision's float kernels).
    """

    ops = tuple(_RANDAUGMENT_SPACE)

    def __init__(self, num_ops: int = 2, magnitude: int = 9, num_magnitude_bins: int = 31,
                 interpolation: Any = InterpolationMode.NEAREST, fill: float | Sequence[float] | None = None,
                 *, seed: Seed = None) -> None:
        super().__init__(p=1.0, seed=seed)
        if not isinstance(num_ops, int) or (num_ops < 0):
            raise ValueError(f"num_ops should be a non-negative integer, but got {num_ops} instead.")
        if not isinstance(magnitude, int) or not 0 <= magnitude < num_magnitude_bins:
            raise ValueError(f"magnitude should be an integer in [0, num_magnitude_bins - 1 = "
                             f"{num_magnitude_bins - 1}], but got {magnitude} instead.")
        self.num_ops = num_ops
        self.magnitude = magnitude
        self.num_magnitude_bins = num_magnitude_bins
        self.interpolation = check_interpolation(interpolation)
        self.fill = _check_fill_arg(fill)

    def magnitudes(self, height: int, width: int) -> dict[str, np.ndarray | None]:
        """Every operation's ``num_magnitude_bins`` strengths for an image of this size."""
        return {op: fn(self.num_magnitude_bins, height, width) for op, (fn, _) in _RANDAUGMENT_SPACE.items()}

    def get_params(self, height: int, width: int, rng: np.random.Generator | None = None) -> list[tuple[str, float]]:
        """The ``num_ops`` (operation, signed magnitude) pairs, drawn as torchvision draws them."""
        rng = _rng(rng)
        chosen = []
        for _ in range(self.num_ops):
            op = self.ops[int(rng.integers(len(self.ops)))]
            fn, signed = _RANDAUGMENT_SPACE[op]
            values = fn(self.num_magnitude_bins, height, width)
            if values is None:
                magnitude = 0.0
            else:
                magnitude = float(values[self.magnitude])
                if signed and rng.random() <= 0.5:
                    magnitude *= -1
            chosen.append((op, magnitude))
        return chosen

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = x
        for op, magnitude in self.get_params(*x.shape[-2:], rng):
            out = apply_op(out, op, magnitude, self.interpolation, self.fill)
        return out.copy() if out is x else out


# ---- batch transforms: MixUp and CutMix -------------------------------------------------
class _MixBase(Transform):
    """Shared by MixUp and CutMix: (images, labels) in, (mixed images, soft targets) out.

    Each image is paired with the one before it in the batch (``roll(1)``), as in
    torchvision, so shuffle the batches.  ``labels``: class indices (N,) with
    ``num_classes``, or probabilities (N, num_classes).  ``lam ~ Beta(alpha, alpha)``.
    """

    def __init__(self, *, alpha: float = 1.0, num_classes: int | None = None,
                 labels_getter: Any = "default", seed: Seed = None) -> None:
        super().__init__(p=1.0, seed=seed)
        self.alpha = float(alpha)
        if not self.alpha > 0:
            raise ValueError(f"alpha must be > 0 (the Beta(alpha, alpha) concentration), got {alpha}")
        self.num_classes = num_classes
        if labels_getter != "default" and not callable(labels_getter):
            raise ValueError(f"labels_getter should either be 'default', a callable, or None, but got {labels_getter}.")
        self.labels_getter = labels_getter

    def _unpack(self, inputs: tuple) -> tuple[Any, Any]:
        inputs = inputs if len(inputs) > 1 else inputs[0]
        if callable(self.labels_getter):
            labels = self.labels_getter(inputs)
            images = inputs[0] if isinstance(inputs, (tuple, list)) else inputs
            return images, labels
        if not isinstance(inputs, (tuple, list)) or len(inputs) != 2:
            raise ValueError(f"{type(self).__name__} takes (images, labels): call it as "
                             f"{type(self).__name__.lower()}(images, labels)")
        return inputs[0], inputs[1]

    def _prepare(self, inputs: tuple) -> tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], Any]]:
        images, labels = self._unpack(inputs)
        wrap = _wrapper(images)
        x = _to_numpy(images)
        y = _to_numpy(labels)
        if y.ndim not in (1, 2):
            raise ValueError("labels should be index based with shape (batch_size,) or probability based with "
                             f"shape (batch_size, num_classes), but got a tensor of shape {tuple(y.shape)} instead.")
        if y.ndim == 2 and self.num_classes is not None and y.shape[-1] != self.num_classes:
            raise ValueError("When passing 2D labels, the number of elements in last dimension must match "
                             f"num_classes: {y.shape[-1]} != {self.num_classes}. You can Leave num_classes to None.")
        if y.ndim == 1 and self.num_classes is None:
            raise ValueError("num_classes must be passed if the labels are index-based (1D)")
        if x.ndim != 4:
            raise ValueError(f"Expected a batched input with 4 dims, but got {x.ndim} dimensions instead.")
        if x.shape[0] != y.shape[0]:
            raise ValueError("The batch size of the image or video does not match the batch size of the labels: "
                             f"{x.shape[0]} != {y.shape[0]}.")
        if y.ndim == 1:
            if not np.issubdtype(y.dtype, np.integer):
                raise TypeError(f"index labels must be integers, got dtype {y.dtype}")
            if len(y) and (y.min() < 0 or y.max() >= self.num_classes):
                raise ValueError(f"Class values must be smaller than num_classes ({self.num_classes}) and >= 0.")
            y = np.eye(self.num_classes, dtype=np.float32)[y]
        elif not np.issubdtype(y.dtype, np.floating):
            y = y.astype(np.float32)
        return x, y, wrap

    @staticmethod
    def _mix_labels(y: np.ndarray, lam: float) -> np.ndarray:
        return (np.roll(y, 1, axis=0) * (1.0 - lam) + y * lam).astype(y.dtype, copy=False)

    def apply_batch(self, x: Any) -> Any:
        raise TypeError(f"{type(self).__name__} mixes images with their labels: call "
                        f"{type(self).__name__.lower()}(images, labels) on a batch instead")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alpha={self.alpha}, num_classes={self.num_classes})"


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach") and hasattr(x, "numpy"):
        return np.asarray(x.detach().cpu().numpy()) if hasattr(x, "cpu") else np.asarray(x.detach().numpy())
    return np.asarray(x)


def _wrapper(like: Any) -> Callable[[np.ndarray], Any]:
    """Return results as the images came: NumPy, gradwise Tensors or torch tensors."""
    module = type(like).__module__
    if module.startswith("gradwise"):
        from gradwise.engines.native import as_tensor

        return lambda a: as_tensor(np.ascontiguousarray(a))
    if module.startswith("torch"):
        import torch

        return lambda a: torch.from_numpy(np.ascontiguousarray(a))
    return lambda a: a


class MixUp(_MixBase):
    """MixUp (Zhang et al. 2018): ``lam * x + (1 - lam) * x_prev`` and the same blend of the targets.

    ``mixup(images, labels)`` with a (N, C, H, W) batch returns (mixed images, soft
    targets of shape (N, num_classes)); ``alpha``: lam ~ Beta(alpha, alpha), one lam per
    call (torchvision.transforms.v2.MixUp).
    """

    def get_params(self, rng: np.random.Generator | None = None) -> float:
        """The mixing weight ``lam ~ Beta(alpha, alpha)``."""
        return float(_rng(rng).beta(self.alpha, self.alpha))

    def __call__(self, *inputs: Any) -> tuple[Any, Any]:
        x, y, wrap = self._prepare(inputs)
        lam = self.get_params(self.rng)
        mixed = (np.roll(x, 1, axis=0) * (1.0 - lam) + x * lam).astype(x.dtype, copy=False)
        return wrap(mixed), wrap(self._mix_labels(y, lam))


class CutMix(_MixBase):
    """CutMix (Yun et al. 2019): paste a box of the previous image; targets mixed by the box's area.

    ``cutmix(images, labels)`` returns (images, soft targets (N, num_classes)).  A box of
    about ``1 - lam`` of the area (lam ~ Beta(alpha, alpha)) centred at a uniform random
    pixel, clipped to the image; the targets use the area actually pasted
    (torchvision.transforms.v2.CutMix).
    """

    def get_params(self, height: int, width: int,
                   rng: np.random.Generator | None = None) -> tuple[tuple[int, int, int, int], float]:
        """((x1, y1, x2, y2), lam_adjusted): the pasted box and the weight of the image itself."""
        rng = _rng(rng)
        lam = float(rng.beta(self.alpha, self.alpha))
        r_x = int(rng.integers(width))
        r_y = int(rng.integers(height))
        r = 0.5 * math.sqrt(1.0 - lam)
        r_w_half, r_h_half = int(r * width), int(r * height)
        x1, y1 = max(r_x - r_w_half, 0), max(r_y - r_h_half, 0)
        x2, y2 = min(r_x + r_w_half, width), min(r_y + r_h_half, height)
        return (x1, y1, x2, y2), float(1.0 - (x2 - x1) * (y2 - y1) / (width * height))

    def __call__(self, *inputs: Any) -> tuple[Any, Any]:
        x, y, wrap = self._prepare(inputs)
        (x1, y1, x2, y2), lam = self.get_params(*x.shape[-2:], self.rng)
        out = x.copy()
        out[..., y1:y2, x1:x2] = np.roll(x, 1, axis=0)[..., y1:y2, x1:x2]
        return wrap(out), wrap(self._mix_labels(y, lam))
