"""Every hook is documented and tested; an example plugin loads through a real entry point."""

import inspect
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import cnnvis
from cnnvis import hookspecs, plugins

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
HOOKS = sorted(name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("cnnvis_"))


@pytest.fixture()
def example_plugin(tmp_path, monkeypatch):
    """Install tests/plugin_example as a distribution with a `cnnvis` entry point, then reload."""
    dist = tmp_path / "cnnvis_tinyvit-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: cnnvis-tinyvit\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[cnnvis]\ntinyvit = cnnvis_tinyvit\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "plugin_example"))
    plugins.plugin_manager.cache_clear()
    yield __import__("cnnvis_tinyvit")
    plugins.plugin_manager.cache_clear()
    sys.modules.pop("cnnvis_tinyvit", None)


def test_every_hook_is_documented():
    docs = (ROOT / "docs" / "plugins.md").read_text()
    missing = [h for h in HOOKS if not re.search(rf"^#+ .*`?{h}`?", docs, re.MULTILINE)]
    assert not missing, f"hooks without a section in docs/plugins.md: {missing}"


def test_every_hook_is_tested():
    source = Path(__file__).read_text()
    missing = [h for h in HOOKS if f"def test_hook_{h}" not in source]
    assert not missing, f"hooks without a test_hook_<name> test: {missing}"


def test_every_hook_has_a_one_line_docstring():
    for name in HOOKS:
        doc = getattr(hookspecs, name).__doc__ or ""
        assert doc.strip() and "\n" not in doc.strip(), name


def test_builtins_register_through_the_hooks():
    pm = plugins.plugin_manager()
    names = {pm.get_name(p) for p in pm.get_plugins()}
    assert set(plugins.BUILTIN_PLUGINS) <= names
    assert "gradcam" in cnnvis.available_methods()


def test_entry_point_plugin_is_loaded(example_plugin):
    pm = plugins.plugin_manager()
    assert pm.get_plugin("tinyvit") is example_plugin


def test_hook_cnnvis_adapter(example_plugin, tmp_path):
    bundle = example_plugin.TinyVitBundle(example_plugin.TinyViT().eval(), ["a", "b", "c"])
    exp = cnnvis.explain(bundle, example_plugin.example_inputs())
    assert exp.maps.shape == (2, 16, 16)
    # without the plugin nothing knows the bundle
    plugins.plugin_manager.cache_clear()
    plugins.plugin_manager().unregister(name="tinyvit")
    with pytest.raises(cnnvis.UnsupportedModelError):
        cnnvis.explain(bundle, example_plugin.example_inputs())


def test_hook_cnnvis_load(example_plugin, tmp_path):
    path = tmp_path / "net.tinyvit.json"
    path.write_text(json.dumps({"labels": ["cat", "dog", "owl"], "seed": 3}))
    handle = cnnvis.load(path)
    assert isinstance(handle, example_plugin.TinyVitBundle)
    assert handle.labels == ["cat", "dog", "owl"]


def test_hook_cnnvis_cam_methods(example_plugin):
    assert "gradxact" in cnnvis.available_methods()
    model = example_plugin.TinyViT().eval()
    x = example_plugin.example_inputs()
    exp = cnnvis.explain(model, x, method="GradXAct")
    grads = cnnvis.explain(model, x, method="hirescam")  # gradient * activation, summed per position
    assert exp.method == "gradxact"
    np.testing.assert_allclose(exp.raw, grads.raw / 16, rtol=1e-4, atol=1e-6)


def test_hook_cnnvis_architecture(example_plugin):
    model = example_plugin.TinyViT().eval()
    x = example_plugin.example_inputs()
    exp = cnnvis.explain(model, x)
    assert exp.layer == "blocks.1"
    assert exp.raw.shape == (2, 4, 4)  # 16 tokens reshaped to a 4x4 grid
    acts = cnnvis.activations(model, x, layers=["blocks.0"])
    assert acts["blocks.0"].shape == (2, 16, 4, 4)
    # the reshape is for token layers only: spatial layers keep their own shape
    assert cnnvis.explain(model, x, layer="embed").raw.shape == (2, 4, 4)
    assert cnnvis.activations(model, x)["embed"].shape == (2, 16, 4, 4)


def test_architecture_is_unknown_without_the_plugin():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "tinyvit_plain", Path(__file__).parent / "plugin_example" / "cnnvis_tinyvit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.TinyViT().eval()
    # The built-in ViT plugin recognises its structure (patchifying conv, attention blocks with LayerNorms)
    assert cnnvis.explain(model, module.example_inputs()).layer == "blocks.1.norm1"
    # Without any architecture plugin the last spatial output is the patch embedding and the blocks
    # are token lists: the default is refused, naming the token layers, rather than mapping the embedding.
    pm = plugins.plugin_manager()
    builtin = pm.unregister(name="cnnvis.architectures.vit")
    try:
        with pytest.raises(cnnvis.NonSpatialLayerError, match=r"'embed'.*blocks\.1\.norm"):
            cnnvis.explain(model, module.example_inputs())
        assert cnnvis.explain(model, module.example_inputs(), layer="embed").layer == "embed"
        with pytest.raises(cnnvis.NonSpatialLayerError):
            cnnvis.explain(model, module.example_inputs(), layer="blocks.1")
    finally:
        pm.register(builtin, name="cnnvis.architectures.vit")
