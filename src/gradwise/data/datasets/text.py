"""Labelled text: :class:`TextLines` reads ``label<TAB>text`` lines or a CSV, and a small vocabulary.

A network needs numbers, so text goes through two steps: :func:`tokenize` cuts a string
into tokens, and a :class:`Vocabulary` built on the *training* texts maps tokens to
integer ids (unknown words to ``<unk>``, padding with ``<pad>`` = 0), which an
``nn.Embedding`` then turns into vectors.  Samples keep the raw string so that text
augmentation (:mod:`gradwise.augment.text`) can run first; encoding is then the last
step of the transform, e.g. ``DataLoader(ds, transform=lambda s: vocab.encode(s, max_len=40))``.
"""
from __future__ import annotations

import csv
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from gradwise.data.dataset import ArrayDataset
from gradwise.data.datasets._files import DatasetFormatError, missing_file_error

__all__ = ["tokenize", "Vocabulary", "TextLines", "class_index"]

_TOKEN = re.compile(r"[\w']+|[^\w\s]", re.UNICODE)


def tokenize(text: str, lower: bool = True) -> list[str]:
    """Words (letters, digits, apostrophes) and single punctuation marks: ``"Don't stop!"`` ->
    ``["don't", "stop", "!"]``."""
    return _TOKEN.findall(text.lower() if lower else text)


class Vocabulary:
    """Token <-> id mapping, most frequent tokens first, after the special tokens.

    ``Vocabulary.build(texts, min_freq=1, max_size=None)`` counts tokens of the training
    texts; ``<pad>`` is id 0 and ``<unk>`` id 1 by default.  ``vocab.encode(text)`` gives an
    int64 array of ids (``max_len=`` truncates and pads with ``<pad>``), ``vocab.decode``
    goes back.  ``vocab(text)`` is ``encode``.
    """

    def __init__(self, tokens: Iterable[str], specials: Sequence[str] = ("<pad>", "<unk>"),
                 tokenizer: Callable[[str], list[str]] = tokenize) -> None:
        self.itos: list[str] = list(dict.fromkeys([*specials, *tokens]))
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        self.specials, self.tokenizer = tuple(specials), tokenizer
        self.pad_index = self.stoi.get("<pad>", 0)
        self.unk_index = self.stoi.get("<unk>")

    @classmethod
    def build(cls, texts: Iterable[str], min_freq: int = 1, max_size: int | None = None,
              specials: Sequence[str] = ("<pad>", "<unk>"),
              tokenizer: Callable[[str], list[str]] = tokenize) -> "Vocabulary":
        """The vocabulary of ``texts``: tokens seen at least ``min_freq`` times, at most ``max_size`` of them."""
        counts = Counter(token for text in texts for token in tokenizer(text))
        ranked = sorted((t for t, c in counts.items() if c >= min_freq and t not in specials),
                        key=lambda t: (-counts[t], t))
        return cls(ranked[:max_size] if max_size is not None else ranked, specials, tokenizer)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        if token in self.stoi:
            return self.stoi[token]
        if self.unk_index is None:
            raise KeyError(f"token {token!r} is not in the vocabulary and there is no <unk> token")
        return self.unk_index

    def encode(self, text: str, max_len: int | None = None) -> np.ndarray:
        """Token ids of ``text`` (int64); with ``max_len``, truncated or padded to exactly that length."""
        ids = [self[t] for t in self.tokenizer(text)]
        if max_len is not None:
            ids = ids[:max_len] + [self.pad_index] * max(0, max_len - len(ids))
        return np.asarray(ids, dtype=np.int64)

    __call__ = encode

    def decode(self, ids: Iterable[int], skip_pad: bool = True) -> list[str]:
        """The tokens of ``ids`` (padding left out unless ``skip_pad=False``)."""
        return [self.itos[int(i)] for i in ids if not (skip_pad and int(i) == self.pad_index)]

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens: {self.itos[:8]}{' ...' if len(self) > 8 else ''})"


def class_index(labels: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Sorted class names (numerically when all labels are integers) and each label's index."""
    names = sorted(set(labels), key=lambda s: (0, int(s), s) if s.lstrip("-").isdigit() else (1, 0, s))
    lookup = {name: i for i, name in enumerate(names)}
    return names, np.array([lookup[label] for label in labels], dtype=np.int64)


class TextLines(ArrayDataset):
    """Labelled texts from ``label<sep>text`` lines, or from a CSV file with label and text columns.

    A ``.csv`` file (or ``csv=True``) is read with the :mod:`csv` module and needs a header
    naming ``label_column`` and ``text_column``; any other file has one sample per line,
    the label before the first ``sep`` (a header line ``label<sep>text`` is skipped, blank
    lines too).  Samples are ``(text str, class index int64)``; ``classes`` holds the
    label strings (sorted; numerically when they are integers).
    """

    def __init__(self, path: str | os.PathLike, sep: str = "\t", transform: Callable | None = None,
                 target_transform: Callable | None = None, label_column: str = "label",
                 text_column: str = "text", csv_format: bool | None = None, encoding: str = "utf-8") -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise missing_file_error(type(self).__name__, [self.path.name], [self.path.parent],
                                     [f"{self.path.name} (label{sep!r}text lines, or a CSV with columns "
                                      f"{label_column!r} and {text_column!r})"])
        is_csv = self.path.suffix.lower() == ".csv" if csv_format is None else csv_format
        with open(self.path, encoding=encoding, newline="") as f:
            pairs = self._read_csv(f, label_column, text_column) if is_csv else self._read_lines(f, sep, (label_column,
                                                                                                          text_column))
        if not pairs:
            raise DatasetFormatError(f"{self.path}: no labelled text found")
        labels, texts = zip(*pairs)
        self.classes, targets = class_index(labels)
        super().__init__(np.array(texts, dtype=object), targets, transform=transform,
                         target_transform=target_transform)

    @property
    def texts(self) -> list[str]:
        return list(self.arrays[0])

    def _read_lines(self, f, sep: str, header: tuple[str, str]) -> list[tuple[str, str]]:
        pairs = []
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if sep not in line:
                raise DatasetFormatError(f"{self.path}, line {number}: expected 'label{sep!r}text', found no "
                                         f"separator {sep!r} in {line[:60]!r}")
            label, text = line.split(sep, 1)
            if number == 1 and (label.strip(), text.strip()) == header:
                continue
            pairs.append((label.strip(), text))
        return pairs

    def _read_csv(self, f, label_column: str, text_column: str) -> list[tuple[str, str]]:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {label_column, text_column} <= set(reader.fieldnames):
            raise DatasetFormatError(f"{self.path}: the CSV header must name the columns {label_column!r} and "
                                     f"{text_column!r}; found {reader.fieldnames}")
        pairs = []
        for row in reader:
            if row[label_column] is None or row[text_column] is None:
                raise DatasetFormatError(f"{self.path}, line {reader.line_num}: missing label or text")
            pairs.append((row[label_column].strip(), row[text_column]))
        return pairs
