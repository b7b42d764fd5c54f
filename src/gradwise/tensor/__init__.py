"""The Tensor, its autograd engine, and PyTorch's tensor-level functions."""
