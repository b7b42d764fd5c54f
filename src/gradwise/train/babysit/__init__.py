"""Automatic babysitting of a training run: the lecture's "Babysitting the Training" as checks.

``fit(..., babysit=True)`` adds a :class:`Babysitter` callback.  Before the first update it checks
that the inputs are normalized (``input_normalization``), that each layer is initialized for its
activation (``init_scheme``), that the first loss is reasonable and not NaN (``initial_loss``) and that
the model can overfit a handful of samples (``overfit_tiny_batch``); while training it watches for
NaN/inf (``nan_inf``), a loss that does not fall (``loss_decreasing``), dead ReLUs (``dead_relu``),
saturated sigmoid/tanh units (``saturation``), vanishing or exploding gradients (``gradient_flow``)
and a learning rate far from right (``learning_rate``: update-to-weight ratios, divergence,
oscillation).  Each finding is a :class:`Check`; every threshold is a field of :class:`Thresholds`
with its default and its source.  The check functions work on plain arrays and can be used alone.
"""
from gradwise.train.babysit.activation_checks import check_dead_relu, check_nan_inf, check_saturation
from gradwise.train.babysit.babysitter import CHECKS_FILE, STATS_FILE, Babysitter
from gradwise.train.babysit.check import CHECK_NAMES, DURING_TRAINING, PRE_TRAINING, Check
from gradwise.train.babysit.data_checks import check_input_normalization
from gradwise.train.babysit.gradient_checks import (check_divergence, check_gradient_flow, check_oscillation,
                                                    check_update_ratio)
from gradwise.train.babysit.init_checks import check_init_scheme, describe_layers
from gradwise.train.babysit.loss_checks import check_initial_loss, check_loss_decreasing, check_overfit_tiny_batch
from gradwise.train.babysit.thresholds import Thresholds

__all__ = [
    "Babysitter", "Check", "Thresholds", "CHECK_NAMES", "PRE_TRAINING", "DURING_TRAINING", "STATS_FILE",
    "CHECKS_FILE", "check_input_normalization", "check_init_scheme", "describe_layers", "check_initial_loss",
    "check_overfit_tiny_batch", "check_loss_decreasing", "check_nan_inf", "check_dead_relu", "check_saturation",
    "check_gradient_flow", "check_update_ratio", "check_divergence", "check_oscillation",
]
