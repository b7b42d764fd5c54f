"""gradwise's dtypes are NumPy's, under PyTorch's names (`gradwise.float32` is `np.float32`)."""
from __future__ import annotations

import numpy as np

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
float16 = np.dtype(np.float16)
int64 = np.dtype(np.int64)
int32 = np.dtype(np.int32)
int16 = np.dtype(np.int16)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)
float = float32  # noqa: A001 - torch.float is float32
double = float64
long = int64
int = int32  # noqa: A001 - torch.int is int32
half = float16

_default_float = float32


def get_default_dtype() -> np.dtype:
    """The dtype of tensors made from Python floats (float32 unless changed)."""
    return _default_float


def set_default_dtype(dtype) -> None:
    """Make `dtype` (float32 or float64) the dtype of new floating-point tensors."""
    global _default_float
    dtype = np.dtype(dtype)
    if dtype not in (float32, float64):
        raise TypeError(f"set_default_dtype: only float32 and float64 are supported, got {dtype}")
    _default_float = dtype


def to_dtype(dtype) -> np.dtype:
    """Normalise a dtype given as a NumPy dtype, a type, or a string such as 'float32'."""
    if dtype is bool_ or dtype is bool:
        return bool_
    try:
        return np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"not a dtype gradwise knows: {dtype!r}") from exc


def is_floating(dtype: np.dtype) -> bool:
    return dtype.kind == "f"


#: numpy dtype name -> (PyTorch's scalar type name, its C++ name), as PyTorch's dtype errors spell them
TYPE_NAMES = {"float64": ("Double", "double"), "float32": ("Float", "float"), "float16": ("Half", "c10::Half"),
              "int64": ("Long", "long int"), "int32": ("Int", "int"), "int16": ("Short", "short int"),
              "int8": ("Char", "signed char"), "uint8": ("Byte", "unsigned char"), "bool": ("Bool", "bool")}


def scalar_type_name(dtype) -> str:
    """``Float`` for float32, ``Double`` for float64 ...: the name PyTorch's messages use."""
    return TYPE_NAMES.get(str(np.dtype(dtype)), (str(dtype),))[0]


def c_type_name(dtype) -> str:
    """``float`` for float32, ``double`` for float64 ...: the C++ name some PyTorch messages use."""
    return TYPE_NAMES.get(str(np.dtype(dtype)), (None, str(dtype)))[1]
