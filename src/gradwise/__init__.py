"""gradwise: deep-network training you can see into.

A from-scratch reverse-mode autograd on NumPy with PyTorch's public names, so that

    import gradwise as torch
    import gradwise.nn as nn
    import gradwise.nn.functional as F

runs PyTorch code such as the lecture's examples unchanged.
"""
from gradwise.tensor.dtypes import (bool_ as bool, double, float, float16, float32, float64, get_default_dtype,
                                    half, int, int8, int16, int32, int64, long, set_default_dtype, uint8)
from gradwise.tensor.tensor import Size, Tensor, as_tensor, cat, concatenate, from_numpy, full_like, stack, tensor, where
from gradwise.tensor.creation import (arange, empty, empty_like, eye, full, linspace, normal, ones, ones_like, rand,
                                      rand_like, randint, randn, randn_like, randperm, zeros, zeros_like)
from gradwise.tensor.toplevel import *  # noqa: F401,F403 - torch-level maths (exp, sum, matmul, ...)
from gradwise.tensor.toplevel import numel, is_tensor
from gradwise.tensor.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from gradwise.tensor.random import Generator, get_rng_state, manual_seed, seed, set_rng_state
from gradwise import autograd

__version__ = "0.1.0"

from gradwise import nn, optim  # noqa: E402 - as `torch.nn` and `torch.optim` after `import torch`
from gradwise import data, graph, interop, models, train, transfer, utils  # noqa: E402
from gradwise.models.weights import load, save  # noqa: E402 - state dicts in a safe format, never pickle


def __getattr__(name: str):
    """``gradwise.summary`` (torchinfo's model summary) is loaded on first use."""
    if name == "summary":
        from gradwise.model_summary import summary

        return summary
    raise AttributeError(f"module 'gradwise' has no attribute {name!r}")
