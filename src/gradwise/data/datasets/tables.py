"""Tabular data: a CSV file with a target column, or arrays stored in a NumPy ``.npz`` file.

Both are :class:`~gradwise.data.ArrayDataset` s - all rows are held in memory as arrays,
so the loader's fast path applies.  Features are float32; a target column of integers
becomes int64 (classification), of other numbers float32 (regression), of text labels
the class index (``classes`` lists the names).
"""
from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from gradwise.data.dataset import ArrayDataset
from gradwise.data.datasets._files import DatasetFormatError, missing_file_error
from gradwise.data.datasets.text import class_index

__all__ = ["CSVDataset", "NPZDataset"]


def _as_float(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _numbers(values: Sequence[str]) -> np.ndarray | None:
    """The column as float64, or None when some value is not a number."""
    parsed = [_as_float(v) for v in values]
    return None if any(p is None for p in parsed) else np.array(parsed, dtype=np.float64)


class CSVDataset(ArrayDataset):
    """Rows of a CSV file with a header: ``features`` columns as input, the ``target`` column as label.

    ``target`` is a column name or index (default: the last column); ``features`` defaults
    to every other column, and they must all be numeric (an empty or non-numeric cell is
    reported with its row and column).  ``target=None`` makes a dataset of features only.
    Samples are ``(features float32 (F,), target)``.
    """

    def __init__(self, path: str | os.PathLike, target: str | int | None = -1,
                 features: Sequence[str | int] | None = None, delimiter: str = ",",
                 transform: Callable | None = None, target_transform: Callable | None = None,
                 encoding: str = "utf-8") -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise missing_file_error(type(self).__name__, [self.path.name], [self.path.parent],
                                     [f"{self.path.name} (a CSV file with a header row)"])
        with open(self.path, encoding=encoding, newline="") as f:
            rows = [row for row in csv.reader(f, delimiter=delimiter) if row]
        if len(rows) < 2:
            raise DatasetFormatError(f"{self.path}: needs a header row and at least one data row")
        header, body = [h.strip() for h in rows[0]], rows[1:]
        for number, row in enumerate(body, start=2):
            if len(row) != len(header):
                raise DatasetFormatError(f"{self.path}, line {number}: {len(row)} fields, the header has {len(header)}")
        columns = list(zip(*body))

        target_index = None if target is None else self._column(target, header)
        feature_indices = ([self._column(c, header) for c in features] if features is not None
                           else [i for i in range(len(header)) if i != target_index])
        self.feature_names = [header[i] for i in feature_indices]
        matrix = np.empty((len(body), len(feature_indices)), dtype=np.float32)
        for j, i in enumerate(feature_indices):
            values = _numbers(columns[i])
            if values is None:
                bad = next(n for n, v in enumerate(columns[i], start=2) if _as_float(v) is None)
                raise DatasetFormatError(f"{self.path}, line {bad}: feature column {header[i]!r} holds "
                                         f"{columns[i][bad - 2]!r}, not a number")
            matrix[:, j] = values
        arrays = [matrix]
        self.classes: list[str] | None = None
        if target_index is not None:
            self.target_name = header[target_index]
            arrays.append(self._target(list(columns[target_index])))
        super().__init__(*arrays, transform=transform, target_transform=target_transform)

    def _column(self, key: str | int, header: list[str]) -> int:
        if isinstance(key, int):
            if not -len(header) <= key < len(header):
                raise IndexError(f"{self.path}: column index {key} out of range for {len(header)} columns")
            return key % len(header)
        if key not in header:
            raise KeyError(f"{self.path}: no column {key!r}; the columns are {header}")
        return header.index(key)

    def _target(self, values: list[str]) -> np.ndarray:
        numbers = _numbers(values)
        if numbers is None:
            self.classes, indices = class_index([v.strip() for v in values])
            return indices
        if np.all(numbers == np.round(numbers)):
            return numbers.astype(np.int64)
        return numbers.astype(np.float32)


class NPZDataset(ArrayDataset):
    """Arrays ``x_key`` (inputs) and ``y_key`` (targets; None for none) of a NumPy ``.npz`` file.

    The arrays keep their dtypes; a missing key is reported with the keys the file has.
    """

    def __init__(self, path: str | os.PathLike, x_key: str = "x", y_key: str | None = "y",
                 transform: Callable | None = None, target_transform: Callable | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise missing_file_error(type(self).__name__, [self.path.name], [self.path.parent],
                                     [f"{self.path.name} (np.savez with arrays {x_key!r}"
                                      f"{f' and {y_key!r}' if y_key else ''})"])
        try:
            archive = np.load(self.path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise DatasetFormatError(f"{self.path}: not a readable .npz file ({exc})") from exc
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DatasetFormatError(f"{self.path}: a single .npy array, not an .npz archive of named arrays")
        with archive:
            keys = [x_key] if y_key is None else [x_key, y_key]
            missing = [k for k in keys if k not in archive.files]
            if missing:
                raise KeyError(f"{self.path}: no array named {missing}; the file has {archive.files}")
            try:
                arrays = [archive[k] for k in keys]
            except ValueError as exc:  # object arrays need pickle, which is refused
                raise DatasetFormatError(f"{self.path}: cannot read the arrays ({exc})") from exc
        super().__init__(*arrays, transform=transform, target_transform=target_transform)
