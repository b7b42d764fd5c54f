"""Data augmentation for images, audio and text (lecture: "Data Augmentation").

"Adding slightly modified copies of already existing data" so the network sees more
variety than the dataset holds; it "acts as a regularizer and helps reduce overfitting".
Which modifications make sense "depends on the input modality (image, sound, text) and
the problem", hence one module per modality, all sharing the rules of
:mod:`gradwise.augment.compose` (what a number means, ``p=``, randomness from
gradwise's global generator unless a transform has its own ``seed=``):

* :mod:`~gradwise.augment.vision`  -- (C, H, W) images with torchvision v2's names and
  meanings (``RandomRotation(30)`` draws from [-30, 30]), RandAugment, MixUp, CutMix;
  kernels in :mod:`~gradwise.augment.functional` (NumPy only)
* :mod:`~gradwise.augment.audio`   -- waveforms and spectrogram features (needs SciPy)
* :mod:`~gradwise.augment.text`    -- EDA sentence edits (NumPy only)
* :func:`~gradwise.augment.preview.preview` -- a PNG grid of augmented copies (matplotlib)
* :func:`rng_state` / :func:`set_rng_state` -- capture and restore the generators of a
  pipeline (for checkpoints); ``gradwise.manual_seed`` controls all the others.

The vision and audio names are imported on first use, so text augmentation works
without SciPy (and everything but ``preview`` without matplotlib).
"""

from importlib import import_module
from typing import Any

from .compose import Compose, Param, RandomApply, Transform, rng_state, set_rng_state
from .preview import preview
from .text import RandomDeletion, RandomInsertion, RandomSwap, SynonymReplacement

_LAZY = {
    "vision": ["CenterCrop", "ColorJitter", "CutMix", "GaussianNoise", "InterpolationMode", "MixUp", "Normalize",
               "RandAugment", "RandomAffine", "RandomCrop", "RandomErasing", "RandomHorizontalFlip",
               "RandomResizedCrop", "RandomRotation", "RandomVerticalFlip", "Resize"],
    "audio": ["BackgroundNoise", "DynamicRangeCompression", "Gain", "MelSpectrogram", "PitchShift",
              "Spectrogram", "TimeShift", "TimeStretch", "amplitude_to_db", "mel_filterbank"],
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}

__all__ = ["Compose", "Param", "RandomApply", "Transform", "rng_state", "set_rng_state",
           "RandomDeletion", "RandomInsertion", "RandomSwap", "SynonymReplacement", "preview", *_WHERE]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
