"""Automatic babysitting of a training run: the lecture's "Babysitting the Training" as checks.

``fit(..., babysit=True)`` adds a :class:`Babysitter` callback.  Before the first update it checks
that the inputs (and regression targets) are normalized (``input_normalization``), that each layer's
init keeps the signal in scale through the depth (``init_scheme``), that the loss at initialization -
dropout off, over a few batches - is what the number of classes predicts and not NaN
(``initial_loss``) and that the model can overfit a handful of samples (``overfit_tiny_batch``); while
training it watches for NaN/inf (``nan_inf``), a loss that does not fall below what guessing costs
(``loss_decreasing``), batches that are not shuffled (``data_order``), dead ReLUs (``dead_relu``),
saturated sigmoid/tanh units (``saturation``), vanishing, exploding or piling-up gradients and layers
that never learn (``gradient_flow``), a learning rate far from right (``learning_rate``: update-to-weight
ratios, divergence, oscillation beyond mini-batch noise, ReLUs killed by large updates), the sharpness
of the loss against the step SGD can take (``curvature``: the largest Hessian eigenvalue by power
iteration on Hessian-vector products, against ``2 / lambda_max``) and validation run in training mode
(``validation``).  Each finding is a :class:`Check`; every threshold is a field of :class:`Thresholds`
with its default and its source.  The check functions work on plain arrays and can be used alone;
``bench/babysit_precision.py`` measures how often each warns on healthy runs and catches seeded faults.
"""
from gradwise.train.babysit.activation_checks import check_dead_relu, check_nan_inf, check_saturation
from gradwise.train.babysit.babysitter import CHECKS_FILE, STATS_FILE, Babysitter
from gradwise.train.babysit.check import CHECK_NAMES, DURING_TRAINING, PRE_TRAINING, Check
from gradwise.train.babysit.curvature import check_curvature, hvp_for, stability_limit, top_eigenvalue
from gradwise.train.babysit.data_checks import check_data_order, check_input_normalization
from gradwise.train.babysit.gradient_checks import (check_divergence, check_frozen_layers, check_gradient_accumulation,
                                                    check_gradient_flow, check_oscillation, check_units_died,
                                                    check_update_ratio)
from gradwise.train.babysit.init_checks import check_init_scheme, describe_layers
from gradwise.train.babysit.loss_checks import (check_initial_loss, check_loss_decreasing, check_overfit_tiny_batch,
                                                uninformed_loss)
from gradwise.train.babysit.thresholds import Thresholds
from gradwise.train.babysit.validation_checks import check_validation

__all__ = [
    "Babysitter", "Check", "Thresholds", "CHECK_NAMES", "PRE_TRAINING", "DURING_TRAINING", "STATS_FILE",
    "CHECKS_FILE", "check_input_normalization", "check_data_order", "check_init_scheme", "describe_layers",
    "check_initial_loss", "check_overfit_tiny_batch", "check_loss_decreasing", "uninformed_loss", "check_nan_inf",
    "check_dead_relu", "check_saturation", "check_gradient_flow", "check_frozen_layers", "check_gradient_accumulation",
    "check_update_ratio", "check_divergence", "check_oscillation", "check_units_died", "check_curvature",
    "stability_limit", "top_eigenvalue", "hvp_for", "check_validation",
]
