"""Datasets laid out as one sub-folder per class (torchvision's ``ImageFolder`` convention).

::

    root/cat/001.png        root/yes/take1.wav
    root/cat/002.jpg        root/yes/take2.wav
    root/dog/abc.png        root/no/take1.wav

Class names are the sub-folder names in sorted order, and a sample's target is its
class's index.  Files are decoded lazily, one per ``dataset[i]``, because a folder of
photographs or recordings may not fit in memory and may hold different sizes.
:class:`ClassFolder` does the scanning for both :class:`ImageFolder` and
:class:`~gradwise.data.datasets.audio.AudioFolder`.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gradwise.data.dataset import Dataset
from gradwise.data.datasets._files import DatasetFormatError, missing_file_error, require_pillow

__all__ = ["ClassFolder", "ImageFolder", "find_classes", "make_dataset", "IMG_EXTENSIONS"]

IMG_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def find_classes(directory: str | os.PathLike) -> tuple[list[str], dict[str, int]]:
    """The class names (sorted sub-folder names of ``directory``) and their indices."""
    classes = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir() and not entry.name.startswith("."))
    if not classes:
        raise FileNotFoundError(f"Couldn't find any class folder in {Path(directory).resolve()} "
                                "(expected one sub-folder per class)")
    return classes, {name: i for i, name in enumerate(classes)}


def make_dataset(directory: str | os.PathLike, class_to_idx: dict[str, int], extensions: Sequence[str] | None = None,
                 is_valid_file: Callable[[str], bool] | None = None) -> list[tuple[str, int]]:
    """``(path, class_index)`` for every accepted file, class by class, files in sorted order.

    A file is accepted when its name ends with one of ``extensions`` (case-insensitive) or,
    instead, when ``is_valid_file(path)`` says so.  A class folder without any accepted
    file is an error: silently training without a class is worse than stopping.
    """
    if (extensions is None) == (is_valid_file is None):
        raise ValueError("give exactly one of extensions and is_valid_file")
    if is_valid_file is None:
        suffixes = tuple(e.lower() for e in extensions)

        def is_valid_file(path: str) -> bool:
            return path.lower().endswith(suffixes)

    samples, empty = [], []
    for name, index in sorted(class_to_idx.items(), key=lambda kv: kv[1]):
        folder = Path(directory) / name
        found = sorted(str(p) for p in folder.rglob("*") if p.is_file() and is_valid_file(str(p)))
        samples.extend((path, index) for path in found)
        if not found:
            empty.append(name)
    if empty:
        allowed = f"Supported extensions are: {', '.join(extensions)}" if extensions else "(is_valid_file rejected all)"
        raise FileNotFoundError(f"Found no valid file for the classes {', '.join(empty)} in "
                                f"{Path(directory).resolve()}. {allowed}")
    return samples


class ClassFolder(Dataset):
    """Base of the one-folder-per-class datasets: scanning, targets, and the transforms.

    Subclasses implement ``_fields(path)``, the tuple a file decodes to (the target is
    appended).  ``transform`` is applied to the first field, ``target_transform`` to the
    target.  ``classes``, ``class_to_idx``, ``samples`` and ``targets`` are torchvision's
    attributes.
    """

    kind = "file"

    def __init__(self, root: str | os.PathLike, extensions: Sequence[str] | None,
                 transform: Callable | None = None, target_transform: Callable | None = None,
                 is_valid_file: Callable[[str], bool] | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise missing_file_error(type(self).__name__, [self.root.name or str(self.root)], [self.root.parent],
                                     [f"{self.root}/<class name>/<{self.kind}>"
                                      f"{'|'.join(extensions) if extensions else ''}"], kind="folder")
        self.transform, self.target_transform = transform, target_transform
        self.extensions = tuple(extensions) if extensions is not None else None
        self.classes, self.class_to_idx = find_classes(self.root)
        self.samples = make_dataset(self.root, self.class_to_idx, None if is_valid_file else self.extensions,
                                    is_valid_file)
        self.targets = np.array([target for _, target in self.samples], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.samples)

    def _fields(self, path: str) -> tuple:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple:
        path, target = self.samples[index]
        fields: list[Any] = [*self._fields(path), int(target)]
        if self.transform is not None:
            fields[0] = self.transform(fields[0])
        if self.target_transform is not None:
            fields[-1] = self.target_transform(fields[-1])
        return tuple(fields)


def load_image(path: str | os.PathLike, mode: str = "RGB", size: tuple[int, int] | None = None) -> np.ndarray:
    """An image file as float32 (C, H, W) in [0, 1] (``mode`` as Pillow's: "RGB", "L", "RGBA")."""
    image_module = require_pillow("ImageFolder")
    try:
        with image_module.open(path) as image:
            image = image.convert(mode)
            if size is not None:
                image = image.resize((size[1], size[0]), image_module.Resampling.BILINEAR)
            array = np.asarray(image, dtype=np.float32) / np.float32(255)
    except (OSError, SyntaxError, ValueError) as exc:  # Pillow's UnidentifiedImageError is an OSError
        raise DatasetFormatError(f"{path}: cannot decode this image ({exc})") from exc
    return array[None] if array.ndim == 2 else np.ascontiguousarray(array.transpose(2, 0, 1))


class ImageFolder(ClassFolder):
    """Images in one sub-folder per class, as torchvision's ``ImageFolder``; Pillow decodes them.

    Samples are ``(image float32 (C, H, W) in [0, 1], class index)``; ``mode`` picks the
    channels ("RGB": 3, the default as torchvision; "L": 1 grey channel) and ``size=(H, W)``
    resizes on loading so that images of different sizes can be batched.  ``loader(path)``
    replaces the decoding entirely.  Pillow is an optional dependency (``gradwise[image]``).
    """

    kind = "image"

    def __init__(self, root: str | os.PathLike, transform: Callable | None = None,
                 target_transform: Callable | None = None, loader: Callable[[str], Any] | None = None,
                 is_valid_file: Callable[[str], bool] | None = None, extensions: Sequence[str] = IMG_EXTENSIONS,
                 mode: str = "RGB", size: tuple[int, int] | None = None) -> None:
        super().__init__(root, extensions, transform, target_transform, is_valid_file)
        self.loader, self.mode, self.size = loader, mode, size
        self.imgs = self.samples

    def _fields(self, path: str) -> tuple:
        return (self.loader(path) if self.loader is not None else load_image(path, self.mode, self.size),)
