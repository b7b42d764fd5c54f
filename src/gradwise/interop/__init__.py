"""`gradwise.interop`: move weights between gradwise and PyTorch (and safetensors), both ways.

* :func:`load_torch_state_dict` - a ``.pt``/``.pth`` file written by ``torch.save(model.state_dict())``
  (or a safetensors file) as NumPy arrays by name, never executing code from the file: read by
  ``torch.load(weights_only=True)`` when PyTorch is installed, else by a pickle-free reader that
  accepts exactly what weights-only loading accepts (``use_torch=False`` forces it).
* :func:`export_torch_state_dict` - write a gradwise state dict as a file
  ``torch.load(path, weights_only=True)`` reads.
* :func:`load_safetensors` / :func:`save_safetensors` - the safetensors format in pure NumPy.

With the torchvision layouts of :mod:`gradwise.models`, a model trained in PyTorch runs in
gradwise with the same outputs::

    from gradwise.interop import load_torch_state_dict
    from gradwise.models import resnet18
    model = resnet18()
    model.load_state_dict(load_torch_state_dict("resnet18.pth"))
"""
from gradwise.interop._files import WeightsFormatError, atomic_write, sniff_format
from gradwise.interop.safetensors import load_safetensors, read_safetensors, save_safetensors
from gradwise.interop.torch_weights import (RestrictedUnpickler, UnsafePickleError, export_torch_state_dict,
                                            load_torch_state_dict, read_torch_zip)

__all__ = ["load_torch_state_dict", "export_torch_state_dict", "read_torch_zip", "RestrictedUnpickler",
           "UnsafePickleError", "load_safetensors", "read_safetensors", "save_safetensors", "WeightsFormatError",
           "atomic_write", "sniff_format"]
