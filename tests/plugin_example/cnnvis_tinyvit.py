"""An example third-party cnnvis plugin: teaches cnnvis a tiny vision transformer.

It implements every hook: an architecture hint (default layer + token-grid reshape), a CAM method,
a loader for ``*.tinyvit.json`` files, and an adapter for its own model bundle.
"""

import json
import math

import numpy as np
import torch
from torch import nn

import cnnvis
from cnnvis.adapters.torch import TorchAdapter
from cnnvis.cam import CAMMethod


class TinyViT(nn.Module):
    def __init__(self, dim=16, patch=4, size=16, classes=3, depth=2):
        super().__init__()
        self.embed = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.Sequential(*[
            nn.TransformerEncoderLayer(dim, 2, dim * 2, dropout=0.0, batch_first=True) for _ in range(depth)
        ])
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls.expand(len(x), -1, -1), tokens], dim=1)
        return self.head(self.blocks(tokens)[:, 0])


def tokens_to_grid(tokens):
    """(N, 1 + h*w, C) tokens without the class token to (N, C, h, w)."""
    patches = tokens[:, 1:]
    side = int(math.isqrt(patches.shape[1]))
    return patches.reshape(len(tokens), side, side, -1).permute(0, 3, 1, 2)


class TinyVitBundle:
    """What this plugin's loader returns: the network plus its labels."""

    def __init__(self, net, labels):
        self.net = net
        self.labels = labels


class GradTimesActivation(CAMMethod):
    name = "gradxact"

    def weights(self, ctx):
        return (ctx.gradients * ctx.activations).mean(axis=(2, 3))


@cnnvis.hookimpl
def cnnvis_architecture(model, framework):
    if framework == "torch" and isinstance(model, TinyViT):
        return cnnvis.Architecture(layer="blocks.1", reshape=tokens_to_grid)
    return None


@cnnvis.hookimpl
def cnnvis_cam_methods():
    return {GradTimesActivation.name: GradTimesActivation}


@cnnvis.hookimpl
def cnnvis_load(path, options):
    if not path.endswith(".tinyvit.json"):
        return None
    config = json.loads(open(path).read())
    torch.manual_seed(config.get("seed", 0))
    net = TinyViT(classes=len(config["labels"])).eval()
    return TinyVitBundle(net, config["labels"])


@cnnvis.hookimpl(tryfirst=True)
def cnnvis_adapter(model):
    if isinstance(model, TinyVitBundle):
        return TorchAdapter(model.net)
    return None


def example_inputs(n=2):
    return torch.from_numpy(np.random.default_rng(0).normal(size=(n, 3, 16, 16)).astype(np.float32))
