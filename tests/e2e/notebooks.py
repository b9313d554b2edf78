"""The notebooks the browser tests open: a small torch CNN with groups, then the magic."""

from __future__ import annotations

from pathlib import Path

import nbformat

MODEL_CELL = '''import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(16, 4))

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)))

torch.manual_seed(0)
model = Net().eval()
x = torch.rand(2, 3, 32, 32)
classes = ["cat", "dog", "owl", "fox"]'''

MAGIC_CELL = "%load_ext cnnvis\n%cnnvis model --input x --classes classes"


def write_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(MODEL_CELL), nbformat.v4.new_code_cell(MAGIC_CELL)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def model_roots() -> set[str]:
    """Ids of the top-level graph nodes, computed the way the widget's kernel will."""
    import cnnvis

    namespace: dict = {}
    exec(MODEL_CELL, namespace)
    graph = cnnvis.graph(namespace["model"], namespace["x"][:1])
    return {n["id"] for n in graph.nodes if n["parent"] is None}
