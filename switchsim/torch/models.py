"""Models defined with ``torch.nn`` only (torchvision does not import with the CPU build here).

* `DigitsCNN`: a small CNN for scikit-learn's digits as 1x8x8 images (`switchsim train`).
* `resnet50`: ResNet-50 (He et al., 2016; bottleneck blocks 3-4-6-3, 25,557,032 parameters with 1,000
  classes), the torchvision layout rebuilt here.
* `bert_base`: a BERT-base-sized transformer encoder (12 layers, hidden 768, 12 heads, feed-forward 3,072,
  vocabulary 30,522, 512 positions, a masked-LM head tied to the embeddings), about 110 M parameters.

The two large models exist to record traces (`switchsim.torch.trace`) with random weights.
"""

from __future__ import annotations

import torch
from torch import nn


class DigitsCNN(nn.Module):
    """Conv(1->16, 3x3, pad 1) - ReLU - Conv(16->32, 3x3, pad 1) - ReLU - MaxPool 2 - Linear(512->64) - ReLU -
    Linear(64->10): 38,282 parameters, 8x8 single-channel input, 10 logits."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1),
                                      nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, 10) of images (batch, 1, 8, 8)."""
        return self.classifier(self.features(x))


class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int) -> None:
        super().__init__()
        width = planes
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes * 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class ResNet50(nn.Module):
    """ResNet-50 for 224x224 RGB images (torchvision's layout; 25,557,032 parameters at 1,000 classes)."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        layers, inplanes = [], 64
        for planes, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            stage = []
            for i in range(blocks):
                stage.append(_Bottleneck(inplanes, planes, stride if i == 0 else 1))
                inplanes = planes * 4
            layers.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, classes)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet50(classes: int = 1000) -> ResNet50:
    """ResNet-50 with random weights."""
    return ResNet50(classes)


class BertBase(nn.Module):
    """A BERT-base-sized encoder with a masked-LM head (output: logits (batch, sequence, vocabulary))."""

    def __init__(self, vocabulary: int = 30522, hidden: int = 768, layers: int = 12, heads: int = 12,
                 feed_forward: int = 3072, positions: int = 512) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocabulary, hidden)
        self.positions = nn.Embedding(positions, hidden)
        self.segments = nn.Embedding(2, hidden)
        self.norm = nn.LayerNorm(hidden)
        layer = nn.TransformerEncoderLayer(hidden, heads, feed_forward, dropout=0.1, activation="gelu",
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.transform = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.LayerNorm(hidden))
        self.bias = nn.Parameter(torch.zeros(vocabulary))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Masked-LM logits for token ids (batch, sequence)."""
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.norm(self.tokens(tokens) + self.positions(positions)[None] + self.segments(torch.zeros_like(tokens)))
        x = self.transform(self.encoder(x))
        return x @ self.tokens.weight.T + self.bias


def bert_base() -> BertBase:
    """A BERT-base-sized transformer with random weights."""
    return BertBase()
