"""Datasets: the embedded 8x8 digits, and readers for the files a user already has.

gradwise never downloads anything.  :func:`load_digits` / :class:`Digits` use the small
file shipped inside the package; every other reader opens files the user placed on
disk, in the format the data is distributed in:

==========================  ================================================================
``MNIST``, ``FashionMNIST``  IDX files (``train-images-idx3-ubyte`` ..., raw or ``.gz``)
``CIFAR10``, ``CIFAR100``    the python-pickle batches of ``cifar-10-batches-py`` / ``cifar-100-python``
``ImageFolder``              ``root/<class>/<image>`` (PNG, JPEG, ...; needs Pillow)
``AudioFolder``              ``root/<class>/<clip>.wav`` (PCM 8/16/24/32-bit, float WAV via SciPy)
``TextLines``                ``label<TAB>text`` lines, or a CSV with label and text columns
``CSVDataset``               a CSV table with a target column
``NPZDataset``               arrays saved with ``np.savez``
==========================  ================================================================

A missing file raises :class:`FileNotFoundError` naming the file, the folders searched
and the files expected; a file in the wrong format raises :class:`DatasetFormatError`.
Images come out as float32 (C, H, W) in [0, 1], audio as float32 (channels, samples),
labels as int64 class indices - the layouts :mod:`gradwise.augment` and ``gradwise.nn``
expect.
"""
from gradwise.data.datasets._files import DatasetFormatError
from gradwise.data.datasets.audio import AudioFolder, read_audio, read_wav
from gradwise.data.datasets.cifar import CIFAR10, CIFAR100, read_cifar_batch
from gradwise.data.datasets.digits import Digits, load_digits
from gradwise.data.datasets.folder import IMG_EXTENSIONS, ImageFolder, find_classes, load_image
from gradwise.data.datasets.mnist import MNIST, FashionMNIST, read_idx
from gradwise.data.datasets.tables import CSVDataset, NPZDataset
from gradwise.data.datasets.text import TextLines, Vocabulary, tokenize

__all__ = [
    "DatasetFormatError", "load_digits", "Digits", "MNIST", "FashionMNIST", "read_idx", "CIFAR10", "CIFAR100",
    "read_cifar_batch", "ImageFolder", "find_classes", "load_image", "IMG_EXTENSIONS", "AudioFolder", "read_audio",
    "read_wav", "TextLines", "Vocabulary", "tokenize", "CSVDataset", "NPZDataset",
]
