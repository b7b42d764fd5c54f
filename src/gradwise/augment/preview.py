"""Look at your augmentations before training on them.

An augmentation is only a regularizer if the copies stay "slightly modified" and keep
their label: a crop that cuts the object out or a pitch shift that turns speech into
chipmunks adds label noise instead.  :func:`preview` draws ``n`` augmented copies next
to the original (first panel) in one PNG: images as images, audio as log spectrograms,
text as lines of text.  Needs matplotlib (``pip install "gradwise[plot]"``).
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np

from gradwise.tensor import random as _random

from .compose import Seed, Transform, rng_state, set_rng_state

__all__ = ["preview"]

_KINDS = ("image", "audio", "text")


def _figure(width: float, height: float) -> Any:
    """A Figure on its own Agg canvas: no pyplot, so the user's backend and open figures are untouched."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "preview() needs matplotlib: pip install 'gradwise[plot]' (or pip install matplotlib)"
        ) from exc
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _infer_kind(sample: Any) -> str:
    if isinstance(sample, str):
        return "text"
    ndim = np.ndim(sample)
    if ndim == 3:
        return "image"
    if ndim in (1, 2):
        return "audio"
    raise ValueError(f"preview(): cannot tell the kind of a sample of shape {np.shape(sample)}; pass kind=")


def _grid(count: int, cols: int) -> tuple[int, int]:
    cols = min(cols, count)
    return -(-count // cols), cols


def _show_image(ax: Any, img: np.ndarray, title: str) -> None:
    img = np.asarray(img, dtype=np.float64)
    lo, hi = img.min(), img.max()
    if lo < 0 or hi > 1:  # e.g. after Normalize: stretch for display only
        img = (img - lo) / (hi - lo if hi > lo else 1.0)
        title += " (rescaled)"
    hwc = np.transpose(img, (1, 2, 0))
    if hwc.shape[-1] == 1:
        ax.imshow(hwc[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(hwc[..., :3], interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()


def _show_audio(ax: Any, wave: np.ndarray, is_feature: bool, sample_rate: int | None, title: str) -> None:
    from .audio import Spectrogram, amplitude_to_db  # needs SciPy; images and text do not

    if is_feature:  # already a (mel) spectrogram: (freq, frames) or (channels, freq, frames)
        spec = np.asarray(wave)
        spec = spec[0] if spec.ndim == 3 else spec
        db = amplitude_to_db(spec) if spec.min() >= 0 else spec
        ylabel = "bin"
        extent = None
    else:
        mono = wave if wave.ndim == 1 else wave.mean(axis=0)
        spec_t = Spectrogram(n_fft=512, hop_length=128)
        db = amplitude_to_db(spec_t(mono.astype(np.float64)))
        if sample_rate:
            extent = (0, len(mono) / sample_rate, 0, sample_rate / 2000)
            ylabel = "kHz"
        else:
            extent, ylabel = None, "bin"
    ax.imshow(db, origin="lower", aspect="auto", cmap="magma", extent=extent)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_xlabel("s" if extent else "frame", fontsize=8)
    ax.tick_params(labelsize=7)


def preview(
    transform: Callable[[Any], Any],
    sample: Any,
    n: int = 8,
    path: str | os.PathLike = "augment_preview.png",
    kind: str | None = None,
    seed: Seed = None,
    sample_rate: int | None = None,
) -> str:
    """Save a PNG grid: ``sample`` first, then ``n`` outputs of ``transform(sample)``.

    ``kind`` is ``"image"`` ((C, H, W)), ``"audio"`` (waveform) or ``"text"`` (``str``);
    inferred from the sample when ``None``.  ``seed`` seeds the draws (for a reproducible
    figure); ``sample_rate`` (default: the transform's, if any) labels the spectrogram axes
    in seconds and kHz.  Returns the path written.  Previewing leaves the transform's and
    gradwise's random streams as they were, so it never changes a training run.
    """
    kind = kind or _infer_kind(sample)
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    saved_global = _random.get_rng_state()
    saved = rng_state(transform) if isinstance(transform, Transform) else None
    try:
        if seed is not None and isinstance(transform, Transform):
            transform.seed(seed)
        copies = [transform(sample) for _ in range(n)]
    finally:
        if saved is not None:
            set_rng_state(transform, saved)
        _random.set_rng_state(saved_global)
    name = getattr(transform, "__class__", type(transform)).__name__
    path = os.fspath(path)

    if kind == "text":
        lines = [("original", sample)] + [(f"#{i + 1}", c) for i, c in enumerate(copies)]
        wrapped = [textwrap.wrap(f"{label:>9}: {text}", 100, subsequent_indent=" " * 11) or [label]
                   for label, text in lines]
        n_lines = sum(len(w) for w in wrapped) + len(wrapped) + 2
        fig = _figure(10, 0.22 * n_lines + 0.3)
        fig.text(0.01, 1 - 0.12 / fig.get_figheight(), f"{name}: text augmentation preview",
                 va="top", family="monospace", fontsize=10, weight="bold")
        y = 1 - 0.5 / fig.get_figheight()
        step = 0.22 / fig.get_figheight()
        for block in wrapped:
            for line in block:
                fig.text(0.01, y, line, va="top", family="monospace", fontsize=9)
                y -= step
            y -= step
        fig.savefig(path)
        return path

    rows, cols = _grid(n + 1, 3 if kind == "audio" else 5)
    panel = (3.4, 2.4) if kind == "audio" else (2.2, 2.4)
    fig = _figure(panel[0] * cols, panel[1] * rows)
    fig.suptitle(f"{name}: {kind} augmentation preview", fontsize=11)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    sr = sample_rate or getattr(transform, "sample_rate", None)
    for i, item in enumerate([sample] + copies):
        title = "original" if i == 0 else f"#{i}"
        if kind == "image":
            _show_image(axes[i], item, title)
        else:
            is_feature = i > 0 and np.ndim(item) > np.ndim(sample)
            _show_audio(axes[i], np.asarray(item), is_feature, sr, title)
    for ax in axes[n + 1:]:
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path)
    return path
