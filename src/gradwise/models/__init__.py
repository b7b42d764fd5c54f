"""`gradwise.models`: a small model zoo with torchvision's module structure and parameter names.

Each constructor builds its network from `gradwise.nn` modules laid out exactly as
torchvision lays out the same architecture, so a state dict moves key for key between the
two (``features.0.weight``, ``layer1.0.downsample.1.running_mean``, ``fc.bias`` ...): weights
trained in PyTorch can be imported with :func:`gradwise.interop.load_torch_state_dict`, and
a gradwise model can be fine-tuned with :mod:`gradwise.transfer` - the lecture's "remember
AlexNet" reuse of a trained convolutional encoder.

Nothing is downloaded: every constructor returns randomly initialised weights (as
torchvision's ``weights=None``); ``weights=PATH`` loads trained ones from a file you have,
and ``pretrained=True`` reads torchvision's ImageNet file from PyTorch's download cache when
it is there (:mod:`gradwise.models.pretrained`), so the lecture's
``torchvision.models.resnet18(pretrained=True)`` runs offline.

=====================  =============================================================
``mlp(sizes)``          Linear/activation stack, keys ``0.weight``, ``2.weight`` ...
``lenet5()``            LeNet-5 (LeCun et al., 1998) for 28x28 or 32x32 images
``alexnet()``           AlexNet (Krizhevsky et al., 2012), torchvision's variant
``vgg11()``, ``vgg11_bn()``   VGG-11 (Simonyan & Zisserman, 2014), configuration "A"
``resnet18()``, ``resnet34()``  ResNet (He et al., 2015) with BasicBlock
``resnet50()``          ResNet-50 with Bottleneck blocks
=====================  =============================================================
"""
from gradwise.models.alexnet import AlexNet, alexnet
from gradwise.models.lenet import LeNet5, lenet5
from gradwise.models.mlp import mlp
from gradwise.models.resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50
from gradwise.models.vgg import VGG, vgg11, vgg11_bn
from gradwise.models.weights import load, load_into, save

__all__ = ["mlp", "LeNet5", "lenet5", "AlexNet", "alexnet", "VGG", "vgg11", "vgg11_bn", "ResNet", "BasicBlock",
           "Bottleneck", "resnet18", "resnet34", "resnet50", "save", "load", "load_into"]
