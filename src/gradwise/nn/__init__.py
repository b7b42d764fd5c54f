"""`gradwise.nn`: modules, layers, activations, losses, initialization."""
from gradwise.nn.parameter import Buffer, Parameter
from gradwise.nn.module import Module
from gradwise.nn.containers import ModuleDict, ModuleList, Sequential
