"""VGG (Simonyan & Zisserman, 2014) as torchvision builds it: configuration "A" is VGG-11.

``features`` is a Sequential of 3x3 convolutions (each followed by ReLU, or BatchNorm2d then
ReLU in the ``_bn`` variant) and 2x2 max-pools, ``avgpool`` brings the maps to 7x7, and
``classifier`` holds three linear layers; the initialisation is torchvision's.
"""
from __future__ import annotations

from collections.abc import Sequence

from gradwise import nn
from gradwise.tensor.tensor import Tensor
from gradwise.models.pretrained import PathLike, apply_weights

# torchvision's configurations: numbers are conv output channels, "M" a 2x2 max-pool.
CONFIGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
}


class VGG(nn.Module):
    """``features`` -> ``avgpool`` (7x7) -> ``classifier`` (4096-4096-classes with dropout)."""

    def __init__(self, features: nn.Sequential, num_classes: int = 1000, init_weights: bool = True,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.constant_(m.bias, 0)

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


def make_layers(cfg: Sequence[int | str], batch_norm: bool = False, in_channels: int = 3) -> nn.Sequential:
    """The ``features`` Sequential for a configuration list (torchvision's ``make_layers``)."""
    layers: list[nn.Module] = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, int(v), kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(int(v)))
        layers.append(nn.ReLU(inplace=True))
        in_channels = int(v)
    return nn.Sequential(*layers)


def vgg11(num_classes: int = 1000, dropout: float = 0.5, *, weights: PathLike | None = None,
          pretrained: bool = False) -> VGG:
    """VGG-11 (configuration "A"), torchvision's layout and initialisation (weights: see
    :mod:`gradwise.models.pretrained`)."""
    model = VGG(make_layers(CONFIGS["A"]), num_classes=num_classes, dropout=dropout)
    return apply_weights(model, "vgg11", weights, pretrained)


def vgg11_bn(num_classes: int = 1000, dropout: float = 0.5, *, weights: PathLike | None = None,
             pretrained: bool = False) -> VGG:
    """VGG-11 with BatchNorm2d after every convolution (torchvision's ``vgg11_bn``)."""
    model = VGG(make_layers(CONFIGS["A"], batch_norm=True), num_classes=num_classes, dropout=dropout)
    return apply_weights(model, "vgg11_bn", weights, pretrained)
