"""Write examples/demo/demo.ipynb, the demo notebook, without outputs.

The notebook is generated so that its source stays reviewable here; edit this file, then run
``python examples/make_demo_notebook.py`` and commit both. The notebook reads the files that
``python -m cnnvis.demo examples/demo`` (``make demo-data``) writes beside it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOK = Path(__file__).resolve().parent / "demo" / "demo.ipynb"

CELLS: list[tuple[str, str]] = [
    ("markdown", """\
# cnnvis demo: inside a small digits CNN

This notebook looks inside `DigitsNet`, a small CNN trained on scikit-learn's handwritten digits
(8x8 images upsampled to 16x16). `make demo` (or `python -m cnnvis.demo examples/demo`) trained
it and wrote, beside this notebook:

- `model.pt2` (torch.export), `model.onnx`, and `model.keras` (a Keras twin with the same weights),
- `samples.npz`, held-out test digits,
- `runs/`, the TensorBoard logdir of the training (`train` and `validation` runs).

Everything below runs on the CPU in a few seconds."""),
    ("code", """\
%matplotlib inline
import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import cnnvis

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TensorFlow start-up, for the Keras part
if not Path("model.pt2").exists():
    raise FileNotFoundError(
        "model.pt2 is not in this folder: run `make demo-data` from the repository root "
        "(or `python -m cnnvis.demo .` here) first."
    )
torch.set_num_threads(2)
CLASS_NAMES = [str(d) for d in range(10)]
print(f"cnnvis {cnnvis.__version__}, torch {torch.__version__}")
print(f"Python: {sys.executable}")
print(f"Prefix: {sys.prefix}")"""),
    ("markdown", """\
## The model and the test digits

`cnnvis.load` opens `.pt2` files without unpickling anything. The handle's `.model` is the
runnable `torch.nn.Module`; every cnnvis function also takes the handle itself."""),
    ("code", """\
model = cnnvis.load("model.pt2")
samples = np.load("samples.npz", allow_pickle=False)
inputs = torch.from_numpy(samples["inputs"])  # (N, 1, 16, 16), values in [0, 1]
labels = samples["labels"]

with torch.no_grad():
    predicted = model.model(inputs).argmax(1).numpy()
print(model)
print(f"{len(labels)} held-out digits, input shape {tuple(inputs.shape)}")
print(f"Accuracy: {np.mean(predicted == labels):.1%}")"""),
    ("markdown", """\
## The graph

`cnnvis.graph` lists the model's groups, layers and operations with their output shapes and
parameter counts, and the dataflow edges between them."""),
    ("code", """\
graph = cnnvis.graph(model, inputs[:1])
print(graph)
print(f"{'id':<22} {'type':<20} {'kind':<7} {'output shape':<18} {'params':>7}")
for node in graph.nodes:
    depth = 0
    parent = node["parent"]
    while parent is not None:
        depth += 1
        parent = graph.node(parent)["parent"]
    name = "  " * depth + node["id"]
    shape = "" if node["output_shape"] is None else str(node["output_shape"])
    print(f"{name:<22} {node['type']:<20} {node['kind']:<7} {shape:<18} {node['params']:>7,}")"""),
    ("markdown", """\
## Where the model looks: Grad-CAM, Grad-CAM++ and Score-CAM

`cnnvis.explain` returns an `Explanation` whose `maps` are heatmaps at input resolution.
With `layer=None` it picks the last block with a spatial output (here `features`, 64 channels
at 8x8). `overlay()` blends the heatmaps over the inputs; `preprocess="none"` says the inputs
are plain [0, 1] pixels."""),
    ("code", """\
digits = inputs[:6]
methods = ["gradcam", "gradcam++", "scorecam"]
explanations = {
    method: cnnvis.explain(model, digits, method=method, class_names=CLASS_NAMES,
                           preprocess="none", progress=False)
    for method in methods
}
first = explanations["gradcam"]
print(first)

fig, axes = plt.subplots(len(methods) + 1, len(digits), figsize=(1.5 * len(digits), 1.6 * (len(methods) + 1)))
for column, image in enumerate(first.images()):
    axes[0, column].imshow(image, interpolation="nearest")
    axes[0, column].set_title(f"label {labels[column]}", fontsize=9)
for row, method in enumerate(methods, start=1):
    exp = explanations[method]
    for column, overlay in enumerate(exp.overlay(alpha=0.5)):
        axes[row, column].imshow(overlay, interpolation="bilinear")
        axes[row, column].set_title(f"{method}: {exp.target_names[column]}", fontsize=9)
for ax in axes.flat:
    ax.axis("off")
fig.tight_layout()
plt.show()"""),
    ("markdown", """\
`top_k` lists the best classes per input with their pre-softmax scores."""),
    ("code", """\
for index, best in enumerate(first.top_k(3)):
    ranked = ", ".join(f"{name} ({score:+.2f})" for _, name, score in best)
    print(f"digit {index} (label {labels[index]}): {ranked}")"""),
    ("markdown", """\
## Activations

`cnnvis.activations` returns `{layer: (N, C, H, W) array}`; here the 32 channels of the
second convolution for the first test digit."""),
    ("code", """\
layer = "features.0"
acts = cnnvis.activations(model, inputs[:1], layers=[layer])[layer][0]  # (C, H, W)
columns = 8
rows = int(np.ceil(len(acts) / columns))
fig, axes = plt.subplots(rows, columns, figsize=(1.5 * columns, 1.5 * rows))
for channel, ax in enumerate(axes.flat):
    ax.axis("off")
    if channel < len(acts):
        ax.imshow(acts[channel], cmap="viridis", interpolation="nearest")
        ax.set_title(str(channel), fontsize=8)
fig.suptitle(f"{layer}: {acts.shape[0]} channels at {acts.shape[1]}x{acts.shape[2]}")
fig.tight_layout()
plt.show()"""),
    ("markdown", """\
## Training curves

`cnnvis.read_scalars` reads the TensorBoard logdir in place: `{run: {tag: Series}}` with numpy
`steps`, `values` and `wall_times`."""),
    ("code", """\
runs = cnnvis.read_scalars("runs")
for run, tags in sorted(runs.items()):
    print(f"{run}: {', '.join(sorted(tags))}")
plotted = ["loss", "accuracy", "learning_rate", "grad_norm"]
fig, axes = plt.subplots(1, len(plotted), figsize=(4 * len(plotted), 3))
for ax, tag in zip(axes, plotted, strict=True):
    for run, tags in sorted(runs.items()):
        if tag in tags:
            ax.plot(tags[tag].steps, tags[tag].values, marker="o", markersize=3, label=run)
    ax.set_title(tag)
    ax.set_xlabel("epoch")
    ax.legend()
fig.tight_layout()
plt.show()
alerts = cnnvis.health_alerts(runs)
print("Training health:", "no alerts" if not alerts else [a.message for a in alerts])"""),
    ("markdown", """## The same model in Keras

`model.keras` holds the same weights in a Keras model (channels-last). One CAM engine serves both
frameworks, so the maps agree."""),
    ("code", """import importlib.util

if importlib.util.find_spec("keras") and Path("model.keras").exists():
    twin = cnnvis.load("model.keras")
    keras_exp = cnnvis.explain(twin, samples["inputs"][:6].transpose(0, 2, 3, 1), layer="features_6")
    torch_exp = cnnvis.explain(model, inputs[:6], layer="features")
    print("largest difference between the two frameworks' raw maps:",
          float(np.abs(keras_exp.raw - torch_exp.raw).max()))
else:
    print("Keras is not installed here: skipping the Keras twin.")"""),
    ("markdown", """## The deployed model: ONNX and INT8

`model.onnx` runs on ONNX Runtime, which has no gradients: its CAMs are the gradient-free ones and
`explain` defaults to EigenCAM. `model.int8.onnx` is the same network quantized to INT8 (static
quantization calibrated on training digits). `cnnvis.compare_precision` gives the accuracy retention
(INT8 accuracy / FP32 accuracy; the goal is at least 0.98) and how closely each layer's INT8 output
follows the FP32 one (cosine similarity; layers below the threshold are flagged)."""),
    ("code", """if Path("model.onnx").exists() and Path("model.int8.onnx").exists():
    fp32, int8 = cnnvis.load("model.onnx"), cnnvis.load("model.int8.onnx")
    comparison = cnnvis.compare_precision(fp32, int8, samples["inputs"], samples["labels"])
    print(f"accuracy FP32 {comparison.accuracy_fp32:.3f}  INT8 {comparison.accuracy_int8:.3f}  "
          f"retention {comparison.retention:.3f} (goal >= 0.98: {'met' if comparison.retention >= 0.98 else 'MISSED'})")
    print(f"\\n{'layer':<18} {'op':<17} {'cosine':>8} {'min':>8} {'rel. error':>10}  flagged (< {comparison.threshold})")
    for row in comparison:
        print(f"{row['layer']:<18} {row['op_type']:<17} {row['cosine']:8.4f} {row['cosine_min']:8.4f} "
              f"{row['relative_error']:10.4f}  {'FLAGGED' if row['flagged'] else ''}")
    onnx_exp = cnnvis.explain(int8, samples["inputs"][:6], class_names=CLASS_NAMES, progress=False)
    print(f"\\nINT8 model explained with {onnx_exp.method} at {onnx_exp.layer}")
else:
    print("model.onnx / model.int8.onnx were not written here (see the warnings from make demo).")"""),
    ("markdown", """`cnnvis.compare` lines the two builds up layer by layer and ranks the layers by the error each
adds (`damage`: its relative error less what its inputs already carried), and `cnnvis.quantize`
builds the INT8 model that keeps the accuracy with the fewest layers left in float (see
docs/compare.md). `paint()` draws the FP32 graph with each layer's damage, yellow to red, the
layers the search kept in float outlined in blue; the panel's *Compare models* source paints the
same ranking on both interactive graphs, synced."""),
    ("code", """if Path("model.onnx").exists() and Path("model.int8.onnx").exists():
    layers = cnnvis.compare("model.onnx", "model.int8.onnx", samples["inputs"], samples["labels"],
                            names=("fp32", "int8"), progress=False)
    print(layers)
    for row in layers.ranked:
        print(f"{row['rank']:>2}  {row['layer']:<22} {row['op_type']:<18} damage {row['damage']:.4f}  "
              f"cosine {row['cosine']:.5f}")
    mixed = cnnvis.quantize("model.onnx", samples["inputs"], samples["labels"], out="model.mixed.onnx",
                            progress=False)
    print(mixed, "- kept in float:", ", ".join(mixed.kept_float) or "none")
    display(layers.paint(kept=mixed.kept_float))"""),
    ("markdown", """## The interactive panel

`%cnnvis` shows the model as a panel in the cell output: the graph (click a block to expand it,
click a layer to see its activations and make it the CAM layer), the activation grid, and the
explain view with method and target pickers."""),
    ("code", """%load_ext cnnvis
%cnnvis model --input inputs[:8] --classes CLASS_NAMES --logdir runs"""),
]


def build() -> nbformat.NotebookNode:
    """The demo notebook, without outputs, with stable cell ids."""
    cells = []
    for number, (kind, source) in enumerate(CELLS, start=1):
        cell = new_markdown_cell(source) if kind == "markdown" else new_code_cell(source)
        cell["id"] = f"cell-{number:02d}"
        cells.append(cell)
    notebook = new_notebook(cells=cells)
    notebook.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
        "language_info": {"name": "python"},
    }
    nbformat.validate(notebook)
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the committed notebook's sources differ from this script")
    args = parser.parse_args(argv)
    notebook = build()
    if args.check:
        current = nbformat.read(NOTEBOOK, as_version=4)
        same = [(c.cell_type, c.source) for c in current.cells] == [(c.cell_type, c.source) for c in notebook.cells]
        print(f"{NOTEBOOK} is {'up to date' if same else 'out of date: run examples/make_demo_notebook.py'}")
        return 0 if same else 1
    NOTEBOOK.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, NOTEBOOK)
    print(f"Wrote {NOTEBOOK}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
