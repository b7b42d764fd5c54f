"""MNIST and Fashion-MNIST from the IDX files the user has (raw or gzipped).

The IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/): a 4-byte magic number
- two zero bytes, a type code, the number of dimensions - then one big-endian uint32
per dimension, then the values in C order, big-endian.  :func:`read_idx` checks each
part, so a wrong or truncated file fails with a message saying what is wrong instead of
a reshape error.  Files compressed with gzip are recognised by their content, whatever
their name.
"""
from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gradwise.data.dataset import ArrayDataset
from gradwise.data.datasets._files import DatasetFormatError, find_file

__all__ = ["read_idx", "MNIST", "FashionMNIST", "IDX_DTYPES"]

#: IDX type code -> big-endian NumPy dtype.
IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DatasetFormatError(f"{path}: corrupt gzip data ({exc})") from exc
    return raw


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in an IDX file (gzipped or not), in native byte order."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DatasetFormatError(f"{path}: not an IDX file (only {len(raw)} bytes)")
    zeros, code, ndim = raw[:2], raw[2], raw[3]
    magic = int.from_bytes(raw[:4], "big")
    if zeros != b"\x00\x00" or code not in IDX_DTYPES or ndim == 0:
        raise DatasetFormatError(
            f"{path}: bad IDX magic number 0x{magic:08X} - expected 0x0000TTDD with type code TT in "
            f"{{{', '.join(f'0x{c:02X}' for c in IDX_DTYPES)}}} and DD >= 1 dimensions "
            f"(e.g. 0x00000803 for MNIST images, 0x00000801 for labels). Is this an IDX file?")
    header_end = 4 + 4 * ndim
    if len(raw) < header_end:
        raise DatasetFormatError(f"{path}: IDX header truncated (needs {ndim} dimension sizes)")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header_end != expected:
        raise DatasetFormatError(f"{path}: IDX header announces shape {shape} of {dtype.newbyteorder('=')} "
                                 f"({expected} bytes) but the file holds {len(raw) - header_end} bytes of data "
                                 "(truncated or corrupt file)")
    return np.frombuffer(raw, dtype=dtype, offset=header_end).reshape(shape).astype(dtype.newbyteorder("="))


class MNIST(ArrayDataset):
    """MNIST handwritten digits read from the user's IDX files; nothing is downloaded.

    Files are looked for in ``root``, ``root/MNIST/raw`` (torchvision's layout) and
    ``root/MNIST``, each raw or gzipped (``.gz``): ``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte`` (``train=True``), ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte`` (``train=False``).  Samples are ``(image, label)``: float32
    (1, 28, 28) in [0, 1] (``(784,)`` with ``flatten=True``) and int64.  ``download`` is
    accepted for torchvision code; a missing file raises an error saying where to put it.
    """

    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine"]
    folder = "MNIST"

    def __init__(self, root: str | os.PathLike, train: bool = True, transform: Callable | None = None,
                 target_transform: Callable | None = None, download: bool = False, flatten: bool = False) -> None:
        self.root, self.train = Path(root), train
        split = "train" if train else "t10k"
        images = self._read(f"{split}-images-idx3-ubyte", ndim=3)
        labels = self._read(f"{split}-labels-idx1-ubyte", ndim=1)
        if len(images) != len(labels):
            raise DatasetFormatError(f"{type(self).__name__}: {len(images)} images but {len(labels)} labels in "
                                     f"{self.root} - the two files do not belong together")
        images = images.astype(np.float32) / np.float32(255)
        images = images.reshape(len(images), -1) if flatten else images[:, None]
        super().__init__(images, labels.astype(np.int64), transform=transform, target_transform=target_transform)

    def _read(self, name: str, ndim: int) -> np.ndarray:
        folders = [self.root, self.root / self.folder / "raw", self.root / self.folder]
        expected = [f"{s}-{k}[.gz]" for s in ("train", "t10k") for k in ("images-idx3-ubyte", "labels-idx1-ubyte")]
        path = find_file(type(self).__name__, [name, name + ".gz", name.replace("-idx", ".idx")], folders, expected)
        array = read_idx(path)
        if array.ndim != ndim:
            raise DatasetFormatError(f"{path}: expected {ndim}-dimensional IDX data, got shape {array.shape}")
        return array


class FashionMNIST(MNIST):
    """Fashion-MNIST (Zalando's clothing images, MNIST's file names and format); see :class:`MNIST`.

    Files are looked for in ``root``, ``root/FashionMNIST/raw`` and ``root/FashionMNIST``.
    """

    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]
    folder = "FashionMNIST"
