"""`gradwise.transfer`: reuse a trained network on a new task with little data (the lecture's last topic).

"Remember AlexNet": its convolutional layers encode visual features, so they can be
transferred - with their pretrained weights - to another task, replacing the 1000-way
output layer by, say, a 3-way one.  The open questions the lecture lists (where to
transfer, what to freeze, which learning rate) are answered by its table, which
:func:`advise` returns with reasons:

=====================  ===================================  ============================================
                       very similar dataset                 very different dataset
=====================  ===================================  ============================================
very little data       Use Linear Classifier on top layer   Try linear classifier from different stages
quite a lot of data    Finetune a few layers                Finetune a larger number of layers
=====================  ===================================  ============================================

The tools for each cell:

* :func:`replace_head` - swap the classifier (``fc``, ``classifier[-1]``) for a new one;
* :func:`freeze` / :func:`unfreeze` - by module, name prefix or glob; frozen parameters get
  no gradient, and frozen BatchNorm layers keep their statistics (they stay in eval mode);
* :func:`feature_extractor` - outputs of any intermediate stages;
* :func:`linear_probe` - a linear classifier on one stage or several;
* :func:`param_groups` - per-stage (discriminative) learning rates for fine-tuning;
* :func:`fine_tune` - new head, freezing and per-stage rates, trained by :func:`gradwise.train.fit`
  (babysat, logged and diagnosed like any run);
* :mod:`gradwise.transfer.example` - the whole thing measured on the digits
  (``gradwise transfer`` on the command line).

Every tool works on gradwise models and on PyTorch models laid out like torchvision's (``fc``,
``features``/``classifier``): layers they build (a new head, a probe) and wrappers they return (a
feature extractor, a probe model) are of the model's own framework - ``torch.nn`` for PyTorch - on
its device, and training goes through :func:`gradwise.train.fit` with that framework's optimizers.
"""
from gradwise.transfer.advice import FINE_TUNE_LR_FACTOR, LITTLE_DATA_PER_CLASS, Advice, advise, strategy_table
from gradwise.transfer.features import FeatureExtractor, extract_features, feature_extractor
from gradwise.transfer.finetune import fine_tune, layer_groups, param_groups
from gradwise.transfer.freezing import freeze, is_frozen, select_parameters, trainable_parameters, unfreeze
from gradwise.transfer.heads import find_head, replace_head
from gradwise.transfer.probe import ProbeModel, ProbeResult, linear_probe, probe_stages

__all__ = ["advise", "Advice", "strategy_table", "LITTLE_DATA_PER_CLASS", "FINE_TUNE_LR_FACTOR", "freeze",
           "unfreeze", "is_frozen", "select_parameters", "trainable_parameters", "find_head", "replace_head",
           "feature_extractor", "FeatureExtractor", "extract_features", "linear_probe", "ProbeResult", "ProbeModel",
           "param_groups", "layer_groups", "fine_tune", "probe_stages"]
