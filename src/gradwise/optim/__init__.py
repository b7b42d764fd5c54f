"""`gradwise.optim`: the solvers (optimizers) and learning-rate schedulers.

The lecture calls the update mechanism "the solver"; PyTorch calls it an optimizer. All
thirteen of the lecture's list are here with PyTorch's names, arguments, defaults and update
rules: Adadelta, Adagrad, Adam, AdamW, SparseAdam, Adamax, ASGD, LBFGS, NAdam, RAdam, RMSprop,
Rprop and SGD. Each class docstring gives its update rule as pseudocode. ``lr_scheduler``
holds the learning-rate schedules (StepLR, ExponentialLR, CosineAnnealingLR, OneCycleLR, ...).
"""
from gradwise.optim.optimizer import Optimizer
from gradwise.optim.adadelta import Adadelta
from gradwise.optim.adagrad import Adagrad
from gradwise.optim.adam import Adam
from gradwise.optim.adamax import Adamax
from gradwise.optim.adamw import AdamW
from gradwise.optim.asgd import ASGD
from gradwise.optim.lbfgs import LBFGS
from gradwise.optim.nadam import NAdam
from gradwise.optim.radam import RAdam
from gradwise.optim.rmsprop import RMSprop
from gradwise.optim.rprop import Rprop
from gradwise.optim.sgd import SGD
from gradwise.optim.sparse_adam import SparseAdam
from gradwise.optim import lr_scheduler

__all__ = ["ASGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "LBFGS", "NAdam", "Optimizer", "RAdam",
           "RMSprop", "Rprop", "SGD", "SparseAdam", "lr_scheduler"]
