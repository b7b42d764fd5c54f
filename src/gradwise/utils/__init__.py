"""`gradwise.utils`: PyTorch's `torch.utils` paths, so `import gradwise.utils.data` works after an import swap."""
from gradwise.utils import data

__all__ = ["data"]
