"""Networks shaped like the ecosystem's, built by hand with random weights, for speed figures.

``resnet`` follows torchvision's ResNet module tree (``conv1``, ``bn1``, ``layer1``..``layer4``
of bottleneck blocks, ``fc``); ``vit`` follows timm's VisionTransformer (``patch_embed.proj``,
``cls_token``, optional register tokens, ``blocks.N``, ``norm``, ``head``). Speed depends on
shapes, not on weights, so random weights serve; no package beyond torch is needed.
"""

import torch
from torch import nn


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_channels, width, stride=1):
        super().__init__()
        out = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + identity)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_channels, width, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != width:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, width, 1, stride=stride, bias=False), nn.BatchNorm2d(width))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + identity)


class ResNet(nn.Module):
    """torchvision-shaped ResNet; ``depths=(3, 4, 6, 3)``, ``base=64`` is ResNet-50, and
    ``block=BasicBlock, depths=(2, 2, 2, 2)`` ResNet-18."""

    def __init__(self, n_classes=1000, depths=(3, 4, 6, 3), base=64, block=Bottleneck):
        super().__init__()
        self.conv1 = nn.Conv2d(3, base, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = base
        for index, depth in enumerate(depths):
            width = base * 2**index
            blocks = []
            for position in range(depth):
                blocks.append(block(channels, width, stride=2 if position == 0 and index > 0 else 1))
                channels = width * block.expansion
            setattr(self, f"layer{index + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, n_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x):
        y = self.norm1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class ViT(nn.Module):
    """timm-shaped ViT; ``patch=14, dim=384, depth=12, heads=6`` is ViT-S/14 (as DINOv2's)."""

    def __init__(self, image_size=224, patch=16, dim=384, depth=12, heads=6, n_classes=1000, register_tokens=0):
        super().__init__()
        self.patch_embed = PatchEmbed(patch, dim)
        grid = (image_size // patch) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.reg_token = nn.Parameter(torch.zeros(1, register_tokens, dim)) if register_tokens else None
        self.pos_embed = nn.Parameter(torch.randn(1, grid, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_classes)

    def forward(self, x):
        tokens = self.patch_embed(x) + self.pos_embed
        extra = [self.cls_token.expand(len(x), -1, -1)]
        if self.reg_token is not None:
            extra.append(self.reg_token.expand(len(x), -1, -1))
        x = self.norm(self.blocks(torch.cat([*extra, tokens], dim=1)))
        return self.head(x[:, 0])


def resnet50(n_classes=1000):
    return ResNet(n_classes, (3, 4, 6, 3), 64)


def resnet18(n_classes=1000):
    return ResNet(n_classes, (2, 2, 2, 2), 64, block=BasicBlock)


def vit_small_16(image_size=224, n_classes=1000):
    return ViT(image_size, 16, 384, 12, 6, n_classes)


def vit_small_14(image_size=518, n_classes=1000, register_tokens=0):
    return ViT(image_size, 14, 384, 12, 6, n_classes, register_tokens)
