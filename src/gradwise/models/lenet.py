"""LeNet-5 (LeCun, Bottou, Bengio & Haffner, 1998) in the features/avgpool/classifier layout.

torchvision has no LeNet; this one follows the layout of torchvision's AlexNet and VGG
(``features``, ``avgpool``, ``classifier``), so the transfer helpers treat all three alike:
``features`` is the convolutional encoder, ``classifier[-1]`` the head.
"""
from __future__ import annotations

from gradwise import nn
from gradwise.models.mlp import activation_layer
from gradwise.tensor.tensor import Tensor


class LeNet5(nn.Module):
    """Two 5x5 convolutions (6 and 16 maps) with 2x2 pooling, then 120-84-classes fully connected.

    The first convolution pads by 2, so 28x28 images (MNIST) give the paper's 16x5x5
    feature maps; ``avgpool`` (adaptive, to 5x5) lets 32x32 inputs (the paper's size) through
    as well.  ``activation`` is "tanh" as in the paper or e.g. "relu"; ``pool`` is "avg"
    (the paper's subsampling) or "max".
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, activation: str = "tanh",
                 pool: str = "avg") -> None:
        super().__init__()
        pooling = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}
        if pool not in pooling:
            raise ValueError(f"LeNet5: pool must be 'avg' or 'max', got {pool!r}")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=2), activation_layer(activation), pooling[pool](2),
            nn.Conv2d(6, 16, kernel_size=5), activation_layer(activation), pooling[pool](2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((5, 5))
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120), activation_layer(activation),
            nn.Linear(120, 84), activation_layer(activation),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


def lenet5(num_classes: int = 10, in_channels: int = 1, activation: str = "tanh", pool: str = "avg") -> LeNet5:
    """LeNet-5 for ``in_channels`` x 28x28 (or 32x32) images and ``num_classes`` classes."""
    return LeNet5(num_classes, in_channels, activation, pool)
