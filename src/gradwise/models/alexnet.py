"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012) as torchvision builds it.

The lecture's transfer-learning example: the convolutional ``features`` encode visual
features and can be reused with the 1000-way ``classifier[6]`` replaced by a 3-way one
(:func:`gradwise.transfer.replace_head`).  Like torchvision's, this is the single-GPU
variant ("One weird trick", Krizhevsky 2014: 64-192-384-256-256 maps) and needs inputs of
at least 63x63 pixels; ``avgpool`` brings any larger size to 6x6.
"""
from __future__ import annotations

from gradwise import nn
from gradwise.tensor.tensor import Tensor
from gradwise.models.pretrained import PathLike, apply_weights


class AlexNet(nn.Module):
    """``features`` (5 convolutions, 3 max-pools) -> ``avgpool`` (6x6) -> ``classifier`` (3 linear layers)."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(p=dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


def alexnet(num_classes: int = 1000, dropout: float = 0.5, *, weights: PathLike | None = None,
            pretrained: bool = False) -> AlexNet:
    """AlexNet with torchvision's layout and default initialisation (weights: see
    :mod:`gradwise.models.pretrained`; nothing is downloaded)."""
    return apply_weights(AlexNet(num_classes, dropout), "alexnet", weights, pretrained)
