"""The PyTorch versions of transfer's wrapper modules (imported only for PyTorch models).

A feature extractor or probe of a ``torch.nn.Module`` is itself a ``torch.nn.Module``, so it
moves with ``.to(device)``, shows its parameters to ``torch.optim`` and saves with
``state_dict()`` like any other PyTorch module.  The behaviour is shared with the gradwise
classes (:class:`~gradwise.transfer.features.FeatureExtractorMixin`,
:class:`~gradwise.transfer.probe.ProbeModelMixin`); only the base class differs.
"""
from __future__ import annotations

import torch

from gradwise.transfer.features import FeatureExtractorMixin
from gradwise.transfer.probe import ProbeModelMixin

__all__ = ["TorchFeatureExtractor", "TorchProbeModel"]


class TorchFeatureExtractor(FeatureExtractorMixin, torch.nn.Module):
    """``extractor(x)``: the output of one named stage of a PyTorch model, or an OrderedDict of several."""


class TorchProbeModel(ProbeModelMixin, torch.nn.Module):
    """Fixed stage outputs of a PyTorch model -> standardisation -> ``torch.nn.Linear``."""
