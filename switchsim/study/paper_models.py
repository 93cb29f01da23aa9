"""The paper-sized models as data: every parameter tensor's shape of ResNet-18 and ResNet-50, no weights.

Written out by hand from the architecture (He, Zhang, Ren, Sun, "Deep Residual
Learning for Image Recognition", CVPR 2016; torchvision's ``resnet18`` and
``resnet50`` for ImageNet, 1000 classes, batch-norm weight and bias counted,
running statistics not: they are not gradients). Convolution weights are
``(out, in, kh, kw)``; batch-norm weight and bias ``(c,)`` each; the classifier
``(1000, in)`` and ``(1000,)``. ResNet-18 has 11,689,512 parameters, ResNet-50
25,557,032. The comparison times every method at these sizes; per-layer
quantities (PowerSGD's P and Q, TernGrad's and signSGD's per-layer scales)
are computed on these shapes.
"""

from __future__ import annotations

import math

Shape = tuple[int, ...]


def _conv_bn(out: int, inputs: int, kernel: int) -> list[Shape]:
    return [(out, inputs, kernel, kernel), (out,), (out,)]


def _basic_block(inputs: int, width: int, downsample: bool) -> list[Shape]:
    shapes = _conv_bn(width, inputs, 3) + _conv_bn(width, width, 3)
    return shapes + (_conv_bn(width, inputs, 1) if downsample else [])


def _bottleneck(inputs: int, width: int, downsample: bool) -> list[Shape]:
    shapes = _conv_bn(width, inputs, 1) + _conv_bn(width, width, 3) + _conv_bn(4 * width, width, 1)
    return shapes + (_conv_bn(4 * width, inputs, 1) if downsample else [])


def resnet18_shapes(classes: int = 1000) -> list[Shape]:
    """ResNet-18's parameter shapes in order: stem, 4 stages of 2 basic blocks, classifier (62 tensors)."""
    shapes = _conv_bn(64, 3, 7)
    inputs = 64
    for stage, width in enumerate((64, 128, 256, 512)):
        for block in range(2):
            shapes += _basic_block(inputs, width, downsample=block == 0 and stage > 0)
            inputs = width
    return [*shapes, (classes, 512), (classes,)]


def resnet50_shapes(classes: int = 1000) -> list[Shape]:
    """ResNet-50's parameter shapes in order: stem, stages of 3, 4, 6, 3 bottlenecks, classifier (161 tensors)."""
    shapes = _conv_bn(64, 3, 7)
    inputs = 64
    for width, blocks in zip((64, 128, 256, 512), (3, 4, 6, 3), strict=True):
        for block in range(blocks):
            shapes += _bottleneck(inputs, width, downsample=block == 0)
            inputs = 4 * width
    return [*shapes, (classes, 2048), (classes,)]


#: Paper-sized models by name: name -> their parameter shapes.
PAPER_MODELS = {"resnet18": resnet18_shapes, "resnet50": resnet50_shapes}


def layer_bounds(shapes: list[Shape]) -> tuple[int, ...]:
    """Element boundaries ``0 = b_0 < ... < b_T = d`` of the tensors, in order.

    Example:
        >>> layer_bounds([(2, 3), (4,)])
        (0, 6, 10)
    """
    bounds = [0]
    for shape in shapes:
        bounds.append(bounds[-1] + math.prod(shape))
    return tuple(bounds)
