"""`gradwise.nn`: modules, layers, activations, losses, initialization."""
from gradwise.nn.parameter import Buffer, Parameter
from gradwise.nn.module import Module
from gradwise.nn.containers import ModuleDict, ModuleList, Sequential
from gradwise.nn import functional, init
from gradwise.nn.linear import Identity, Linear
from gradwise.nn.conv import Conv2d, ConvTranspose2d
from gradwise.nn.padding import (CircularPad1d, CircularPad2d, CircularPad3d, ConstantPad1d, ConstantPad2d,
                                  ConstantPad3d, ReflectionPad1d, ReflectionPad2d, ReflectionPad3d, ReplicationPad1d,
                                  ReplicationPad2d, ReplicationPad3d, ZeroPad1d, ZeroPad2d, ZeroPad3d)
from gradwise.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from gradwise.nn.activation import (ELU, GELU, Hardtanh, LeakyReLU, LogSoftmax, PReLU, ReLU, ReLU6, Sigmoid, SiLU,
                                     Softmax, Softplus, Tanh)
from gradwise.nn.maxout import Maxout
from gradwise.nn.dropout import Dropout, Dropout2d
from gradwise.nn.batchnorm import BatchNorm1d, BatchNorm2d
from gradwise.nn.normalization import GroupNorm, LayerNorm
from gradwise.nn.embedding import Embedding
from gradwise.nn.flatten import Flatten, Unflatten
from gradwise.nn.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from gradwise.nn import utils
