"""ResNet (He, Zhang, Ren & Sun, 2015) as torchvision builds it: ResNet-18/34 with BasicBlock,
ResNet-50 with Bottleneck.

``conv1`` (7x7, stride 2) -> ``bn1`` -> ``relu`` -> ``maxpool`` -> ``layer1`` .. ``layer4``
(stages of blocks with 64, 128, 256, 512 planes, times the block's ``expansion`` maps out;
each later stage halves the resolution, and the first block of a stage projects the shortcut
with ``downsample`` = 1x1 conv + BatchNorm2d when the shape changes) -> ``avgpool`` (1x1) ->
``fc``.  Initialisation as torchvision (Kaiming normal, fan_out, for the convolutions;
BatchNorm weight 1, bias 0; optionally zero-init of each block's last BN).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Union

from gradwise import nn
from gradwise.tensor.tensor import Tensor
from gradwise.models.pretrained import PathLike, apply_weights


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias (the BatchNorm after it has one)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution without bias: the projection shortcut."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers whose output is added to the (possibly projected) input, then ReLU."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 conv (reduce to ``planes``) -> 3x3 conv (carries the stride) -> 1x1 conv (expand to
    4 * ``planes``), each followed by BatchNorm, ReLU between; the (possibly projected) input is
    added before the last ReLU.

    Squeezing the 3x3 convolution between two cheap 1x1 ones is what makes the 50-layer net
    affordable; the stride sits on the 3x3 conv as in torchvision (ResNet "v1.5"), not on the
    first 1x1 as in the original paper.
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


Block = Union[type[BasicBlock], type[Bottleneck]]


class ResNet(nn.Module):
    """The ResNet trunk for a block type and the number of blocks per stage."""

    def __init__(self, block: Block, layers: Sequence[int], num_classes: int = 1000,
                 zero_init_residual: bool = False, in_channels: int = 3) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:  # each residual branch starts as zero, so each block as the identity
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(self, block: Block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def resnet18(num_classes: int = 1000, zero_init_residual: bool = False, *, weights: PathLike | None = None,
             pretrained: bool = False) -> ResNet:
    """ResNet-18: BasicBlocks [2, 2, 2, 2], torchvision's layout and initialisation (weights: see
    :mod:`gradwise.models.pretrained`)."""
    return apply_weights(ResNet(BasicBlock, [2, 2, 2, 2], num_classes, zero_init_residual), "resnet18", weights,
                         pretrained)


def resnet34(num_classes: int = 1000, zero_init_residual: bool = False, *, weights: PathLike | None = None,
             pretrained: bool = False) -> ResNet:
    """ResNet-34: BasicBlocks [3, 4, 6, 3], torchvision's layout and initialisation (weights: see
    :mod:`gradwise.models.pretrained`)."""
    return apply_weights(ResNet(BasicBlock, [3, 4, 6, 3], num_classes, zero_init_residual), "resnet34", weights,
                         pretrained)


def resnet50(num_classes: int = 1000, zero_init_residual: bool = False, *, weights: PathLike | None = None,
             pretrained: bool = False) -> ResNet:
    """ResNet-50: Bottlenecks [3, 4, 6, 3] (2048 features before ``fc``), torchvision's layout and
    initialisation (weights: see :mod:`gradwise.models.pretrained`; torchvision's file is
    ``resnet50-0676ba61.pth``, its original ImageNet weights)."""
    return apply_weights(ResNet(Bottleneck, [3, 4, 6, 3], num_classes, zero_init_residual), "resnet50", weights,
                         pretrained)
