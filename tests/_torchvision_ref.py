"""Stand-ins for torchvision, which cannot be installed beside torch here.

* Models: AlexNet, VGG and ResNet-18/34/50 re-declared with torch.nn, with torchvision's
  module names, layer order and hyper-parameters (so their state dicts have its keys and shapes).
* Transforms (the second half): torchvision.transforms.v2's float-image kernels and parameter
  samplers written independently with torch ops -- matrices built from rotation/shear
  products and inverted with ``torch.linalg.inv``, PyTorch's own ``grid_sample`` and
  ``interpolate``, Pillow's ``ImageOps.equalize`` -- and the samplers drawing from torch's
  generator, so gradwise's NumPy versions can be compared pixel by pixel and distribution
  by distribution.
"""
from __future__ import annotations

import torch
from torch import nn


class AlexNet(nn.Module):
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

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class VGG(nn.Module):
    def __init__(self, features: nn.Module, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def make_layers(cfg, batch_norm: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    in_channels = 3
    for v in cfg:
        if v == "M":
            layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
        else:
            conv2d = nn.Conv2d(in_channels, v, kernel_size=3, padding=1)
            layers += [conv2d, nn.BatchNorm2d(v), nn.ReLU(inplace=True)] if batch_norm else [conv2d, nn.ReLU(inplace=True)]
            in_channels = v
    return nn.Sequential(*layers)


def vgg11(num_classes: int = 1000, batch_norm: bool = False) -> VGG:
    return VGG(make_layers([64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"], batch_norm), num_classes)


def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, groups=1, bias=False, dilation=1)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    # torchvision's Bottleneck with groups=1, base_width=64, dilation=1 (so width == planes):
    # the stride is on the 3x3 conv (ResNet v1.5)
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        width = planes
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(num_classes=1000):
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes)


def resnet34(num_classes=1000):
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes)


def resnet50(num_classes=1000):
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes)


def randomise_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters, so eval-mode outputs test them."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.num_batches_tracked.fill_(7)
    return model


# =============================================================================================
# torchvision.transforms.v2 reference kernels (float images in [0, 1], shape (..., C, H, W))
# =============================================================================================
import math  # noqa: E402

import numpy as np  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

GRAY = (0.2989, 0.587, 0.114)


def _t(x) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))


def gray(img: torch.Tensor) -> torch.Tensor:
    if img.shape[-3] == 1:
        return img
    return (GRAY[0] * img[..., 0:1, :, :] + GRAY[1] * img[..., 1:2, :, :] + GRAY[2] * img[..., 2:3, :, :])


def adjust_brightness(img, f):
    return (_t(img) * f).clamp(0, 1).numpy()


def adjust_contrast(img, f):
    img = _t(img)
    mean = gray(img).mean(dim=(-3, -2, -1), keepdim=True)
    return (f * img + (1 - f) * mean).clamp(0, 1).numpy()


def adjust_saturation(img, f):
    img = _t(img)
    if img.shape[-3] == 1:
        return img.numpy()
    return (f * img + (1 - f) * gray(img)).clamp(0, 1).numpy()


def adjust_hue(img, f):
    """Textbook RGB -> HSV -> RGB (hexcone model), hue shifted by f turns."""
    img = _t(img)
    if img.shape[-3] == 1:
        return img.numpy()
    r, g, b = img.unbind(-3)
    v, _ = img.max(-3)
    mn, _ = img.min(-3)
    delta = v - mn
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    h = torch.where(v == r, ((g - b) / safe) % 6, torch.where(v == g, (b - r) / safe + 2, (r - g) / safe + 4))
    h = torch.where(delta > 0, h / 6, torch.zeros_like(h))
    s = torch.where(v > 0, delta / torch.where(v > 0, v, torch.ones_like(v)), torch.zeros_like(v))
    h = (h + f) % 1.0
    i = torch.floor(h * 6)
    frac = h * 6 - i
    p, q, t = v * (1 - s), v * (1 - frac * s), v * (1 - (1 - frac) * s)
    i = i.long() % 6
    choices = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = torch.zeros_like(img)
    for k, (rr, gg, bb) in enumerate(choices):
        m = (i == k)
        out[..., 0, :, :] = torch.where(m, rr, out[..., 0, :, :])
        out[..., 1, :, :] = torch.where(m, gg, out[..., 1, :, :])
        out[..., 2, :, :] = torch.where(m, bb, out[..., 2, :, :])
    return out.numpy()


def adjust_sharpness(img, f):
    img = _t(img)
    c, h, w = img.shape[-3:]
    if h <= 2 or w <= 2:
        return img.numpy()
    kernel = torch.ones(3, 3, dtype=img.dtype)
    kernel[1, 1] = 5
    kernel = (kernel / kernel.sum()).expand(c, 1, 3, 3)
    flat = img.reshape(-1, c, h, w)
    blurred = TF.conv2d(flat, kernel, groups=c)
    out = flat.clone()
    out[..., 1:-1, 1:-1] = f * flat[..., 1:-1, 1:-1] + (1 - f) * blurred
    return out.clamp(0, 1).reshape(img.shape).numpy()


def posterize(img, bits):
    levels = 2 ** bits
    return (torch.floor(_t(img) * levels).clamp(0, levels - 1) / levels).numpy()


def solarize(img, threshold):
    img = _t(img)
    return torch.where(img >= threshold, 1 - img, img).numpy()


def autocontrast(img):
    img = _t(img)
    lo = img.amin(dim=(-2, -1), keepdim=True)
    hi = img.amax(dim=(-2, -1), keepdim=True)
    flat = hi == lo
    scale = torch.where(flat, torch.ones_like(hi), hi - lo)
    lo = torch.where(flat, torch.zeros_like(lo), lo)
    return ((img - lo) / scale).clamp(0, 1).numpy()


def equalize(img):
    """Pillow's ImageOps.equalize on each channel of the uint8 conversion torchvision makes."""
    from PIL import Image, ImageOps

    x = np.asarray(img)
    q = (x * (256 - 1e-3)).astype(np.uint8)
    out = np.empty_like(q)
    for idx in np.ndindex(*x.shape[:-2]):
        out[idx] = np.asarray(ImageOps.equalize(Image.fromarray(q[idx], mode="L")))
    return out.astype(x.dtype) / 255


def _forward_matrix(angle, scale, shear):
    """scale * R(angle) @ SHy(shear_y) @ SHx(shear_x) in (x, y) with y down, as a 2x2 float64 tensor."""
    a, sx, sy = math.radians(angle), math.radians(shear[0]), math.radians(shear[1])
    rot = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], dtype=torch.float64)
    shx = torch.tensor([[1.0, -math.tan(sx)], [0.0, 1.0]], dtype=torch.float64)
    shy = torch.tensor([[1.0, 0.0], [-math.tan(sy), 1.0]], dtype=torch.float64)
    return scale * rot @ shy @ shx


def warp(img, angle, translate, scale, shear, mode="nearest", fill=None, center=None, out_size=None):
    """out(p) = img(M^-1 (p - c - t) + c) sampled by torch.grid_sample (zeros padding, align_corners=False).

    Coordinates are relative to the image centre; ``fill`` is blended in through a resampled
    coverage mask (torchvision's way).  ``angle`` clockwise as displayed (torchvision's ``affine``).
    """
    img = _t(img)
    c, h, w = img.shape[-3:]
    inv = torch.linalg.inv(_forward_matrix(angle, scale, shear))
    cen = torch.zeros(2, dtype=torch.float64) if center is None else torch.tensor(
        [center[0] - w / 2, center[1] - h / 2], dtype=torch.float64)
    oh, ow = (h, w) if out_size is None else out_size
    ys = torch.arange(oh, dtype=torch.float64) - (oh - 1) / 2
    xs = torch.arange(ow, dtype=torch.float64) - (ow - 1) / 2
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx, gy], -1) - cen - torch.tensor(translate, dtype=torch.float64)
    src = pts @ inv.T + cen
    grid = torch.stack([src[..., 0] / (w / 2), src[..., 1] / (h / 2)], -1)[None].to(img.dtype)
    flat = img.reshape(1, -1, h, w)
    if fill is not None:
        flat = torch.cat([flat, torch.ones(1, 1, h, w, dtype=img.dtype)], 1)
    out = TF.grid_sample(flat, grid, mode=mode, padding_mode="zeros", align_corners=False)
    if fill is not None:
        out, mask = out[:, :-1], out[:, -1:]
        f = torch.tensor(fill if isinstance(fill, (list, tuple)) else [fill], dtype=out.dtype).view(1, -1, 1, 1)
        out = torch.where(mask < 0.5, f.expand_as(out), out) if mode == "nearest" else (out - f) * mask + f
    return out.reshape(img.shape[:-2] + (oh, ow)).numpy()


def rotate(img, angle, mode="nearest", expand=False, center=None, fill=None):
    """Counter-clockwise rotation; ``expand`` holds the rotated image's bounding box."""
    img = _t(img)
    h, w = img.shape[-2:]
    out_size = None
    if expand:
        corners = torch.tensor([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]],
                               dtype=torch.float64)
        moved = corners @ _forward_matrix(-angle, 1.0, (0.0, 0.0)).T
        span_w = math.ceil(round(float(moved[:, 0].max() + w / 2), 4)) - math.floor(round(float(moved[:, 0].min() + w / 2), 4))
        span_h = math.ceil(round(float(moved[:, 1].max() + h / 2), 4)) - math.floor(round(float(moved[:, 1].min() + h / 2), 4))
        out_size = (span_h, span_w)
    return warp(img, -angle, (0.0, 0.0), 1.0, (0.0, 0.0), mode, fill, center, out_size)


def resize(img, size, mode="bilinear", antialias=True):
    img = _t(img)
    flat = img.reshape(-1, *img.shape[-3:])
    kwargs = {} if mode.startswith("nearest") else {"align_corners": False, "antialias": antialias}
    out = TF.interpolate(flat, size=tuple(size), mode=mode, **kwargs)
    return out.reshape(img.shape[:-2] + out.shape[-2:]).numpy()


def center_crop(img, size):
    img = _t(img)
    th, tw = size
    h, w = img.shape[-2:]
    pad_l, pad_t = max(tw - w, 0) // 2, max(th - h, 0) // 2  # the odd pixel goes right / bottom
    pad_r, pad_b = max(tw - w, 0) - pad_l, max(th - h, 0) - pad_t
    img = TF.pad(img, (pad_l, pad_r, pad_t, pad_b))
    h, w = img.shape[-2:]
    top, left = int(round((h - th) / 2)), int(round((w - tw) / 2))
    return img[..., top:top + th, left:left + tw].numpy()


def mixup(images, labels, lam, num_classes):
    x, y = _t(images), _t(labels)
    target = TF.one_hot(y, num_classes).float() if y.ndim == 1 else y
    return ((1 - lam) * x.roll(1, 0) + lam * x).numpy(), ((1 - lam) * target.roll(1, 0) + lam * target).numpy()


def cutmix(images, labels, box, num_classes):
    x, y = _t(images), _t(labels)
    x1, y1, x2, y2 = box
    out = x.clone()
    out[..., y1:y2, x1:x2] = x.roll(1, 0)[..., y1:y2, x1:x2]
    lam = 1 - (x2 - x1) * (y2 - y1) / (x.shape[-1] * x.shape[-2])
    target = TF.one_hot(y, num_classes).float() if y.ndim == 1 else y
    return out.numpy(), ((1 - lam) * target.roll(1, 0) + lam * target).numpy()


# ---- parameter samplers drawing from torch's generator (torchvision v2's algorithms) ----------
def sample_resized_crop(height, width, scale, ratio, g: torch.Generator):
    area = height * width
    lo, hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * torch.empty(1, dtype=torch.float64).uniform_(scale[0], scale[1], generator=g).item()
        aspect = math.exp(torch.empty(1, dtype=torch.float64).uniform_(lo, hi, generator=g).item())
        w, h = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            i = int(torch.randint(0, height - h + 1, (1,), generator=g))
            j = int(torch.randint(0, width - w + 1, (1,), generator=g))
            return i, j, h, w
    r = width / height
    if r < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif r > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w


def sample_cutmix(height, width, alpha, g: torch.Generator):
    lam = float(torch.distributions.Beta(torch.tensor([alpha]), torch.tensor([alpha])).sample(()))
    rx = int(torch.randint(width, (1,), generator=g))
    ry = int(torch.randint(height, (1,), generator=g))
    r = 0.5 * math.sqrt(1 - lam)
    rw, rh = int(r * width), int(r * height)
    x1, y1, x2, y2 = max(rx - rw, 0), max(ry - rh, 0), min(rx + rw, width), min(ry + rh, height)
    return (x1, y1, x2, y2), 1 - (x2 - x1) * (y2 - y1) / (width * height)
