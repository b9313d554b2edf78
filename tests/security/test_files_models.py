"""Model files with planted payloads: nothing in any model file is unpickled or executed.

Each file is real (a torch.export archive, a Keras model, an ONNX model) with one member replaced by
an attack; the ``marker`` fixture fails the test if a payload ever runs.
"""

import json
import os
import zipfile

import numpy as np
import pytest

import cnnvis
from cnnvis.errors import CnnvisError, UnsafeFileError

from .conftest import Payload


def tiny_export(path):
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3)).eval()
    torch.export.save(torch.export.export(model, (torch.randn(1, 3, 8, 8),)), path)
    return model


def replace_members(src, dst, replace, compression=zipfile.ZIP_STORED):
    """Copy the zip ``src`` to ``dst``, each member's bytes passed through ``replace(name, data)``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", compression) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, replace(info.filename, zin.read(info.filename)))


def test_pt2_pickled_sample_inputs_never_run_and_the_model_still_loads(tmp_path, marker, payload_pickle):
    import torch

    model = tiny_export(tmp_path / "good.pt2")
    evil = tmp_path / "evil.pt2"
    replace_members(tmp_path / "good.pt2", evil,
                    lambda name, data: payload_pickle if "data/sample_inputs/" in name else data)
    with pytest.warns(UserWarning, match="ignored its sample inputs"):
        handle = cnnvis.load(evil)
    assert not marker.exists()
    assert handle.format == "pt2" and any("sample_inputs" in m for m in handle.info["ignored"])
    x = torch.randn(1, 3, 8, 8)
    assert torch.allclose(handle.model(x), model(x), atol=1e-5)


def test_pt2_zip_pickle_sample_inputs_are_dropped_too(tmp_path, marker):
    """The payload saved the way torch saves (a zip holding data.pkl), not a bare pickle."""
    import torch

    tiny_export(tmp_path / "good.pt2")
    torch.save(Payload(marker), tmp_path / "payload.pt")
    payload = (tmp_path / "payload.pt").read_bytes()
    replace_members(tmp_path / "good.pt2", tmp_path / "evil.pt2",
                    lambda name, data: payload if "data/sample_inputs/" in name else data)
    with pytest.warns(UserWarning):
        handle = cnnvis.load(tmp_path / "evil.pt2")
    assert handle.info["ignored"]


def test_pt2_pickled_weight_is_refused(tmp_path, marker, payload_pickle):
    """A weight declared as pickled (use_pickle) whose bytes are a payload: refused, not run."""
    tiny_export(tmp_path / "good.pt2")

    def replace(name, data):
        if name.endswith("model_weights_config.json"):
            config = json.loads(data)
            for meta in config["config"].values():
                meta["use_pickle"] = True
            return json.dumps(config).encode()
        return payload_pickle if "/data/weights/weight_" in name else data

    replace_members(tmp_path / "good.pt2", tmp_path / "evil.pt2", replace)
    with pytest.raises(UnsafeFileError, match="not a plain tensor"):
        cnnvis.load(tmp_path / "evil.pt2")


@pytest.mark.parametrize("member, problem", [
    ("data/constants/model.pt", "constants"),  # torch reads a legacy constants file, with a full-unpickler fallback
    ("data/aotinductor/model/model.so", "compiled code"),
    ("data/sample_inputs/model.pt", "twice"),  # a second copy: zip readers disagree on which one counts
])
def test_pt2_planted_members_are_refused(tmp_path, marker, payload_pickle, member, problem):
    tiny_export(tmp_path / "good.pt2")
    with zipfile.ZipFile(tmp_path / "good.pt2") as zin, zipfile.ZipFile(tmp_path / "evil.pt2", "w") as zout:
        top = zin.namelist()[0].split("/")[0]
        zout.writestr(f"{top}/{member}", payload_pickle)  # first, where a reader taking the first copy looks
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
    with pytest.raises(UnsafeFileError, match=problem):
        cnnvis.load(tmp_path / "evil.pt2")


def test_pt2_symbolic_shape_that_is_code_is_refused(tmp_path, marker):
    """torch.export.load passes each symbolic shape to sympy.sympify, which evaluates it as Python."""
    import torch

    torch.export.save(torch.export.export(torch.nn.Conv2d(3, 4, 3), (torch.randn(2, 3, 8, 8),),
                                          dynamic_shapes=({0: torch.export.Dim("batch", max=64)},)),
                      tmp_path / "dynamic.pt2")
    assert cnnvis.load(tmp_path / "dynamic.pt2").format == "pt2"  # plain symbolic shapes load
    code = f"__import__('builtins').open({str(marker)!r}, 'w').write('ran') and "

    def replace(name, data):
        if not name.endswith("models/model.json"):
            return data
        doc = json.loads(data)
        stack = [doc]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                if "expr_str" in item:
                    item["expr_str"] = code + item["expr_str"]
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
        return json.dumps(doc).encode()

    replace_members(tmp_path / "dynamic.pt2", tmp_path / "evil.pt2", replace)
    with pytest.raises(UnsafeFileError, match="symbolic shape"):
        cnnvis.load(tmp_path / "evil.pt2")


@pytest.mark.parametrize("expr", ["Symbol('s0').__class__", "getattr(Symbol, 'x')", "sympify('1')", "exec",
                                  "Function('f')(1)", "lambdify(x, x)", "Integer(1) if 1 else 2"])
def test_symbolic_shape_checker_refuses_calls_beyond_plain_arithmetic(expr):
    from cnnvis.adapters.torch.loader import _plain_expression

    assert not _plain_expression(expr)
    assert _plain_expression("Mul(Integer(2), FloorDiv(Symbol('s39', positive=True, integer=True), Integer(2)))")


def test_pt2_huge_declared_config_is_refused_before_reading(tmp_path):
    tiny_export(tmp_path / "good.pt2")
    bomb = b'{"config": {}, "pad": "' + b" " * (80 * 2**20) + b'"}'
    replace_members(tmp_path / "good.pt2", tmp_path / "bomb.pt2",
                    lambda name, data: bomb if name.endswith("model_constants_config.json") else data,
                    zipfile.ZIP_DEFLATED)
    assert (tmp_path / "bomb.pt2").stat().st_size < 2**20  # small on disk, 80 MiB declared
    with pytest.raises(CnnvisError, match="declares"):
        cnnvis.load(tmp_path / "bomb.pt2")


def test_state_dict_zip_bomb_is_refused_before_inflating(tmp_path, peak_rss):
    import torch

    torch.save({"weight": torch.zeros(4)}, tmp_path / "small.pt")
    with zipfile.ZipFile(tmp_path / "small.pt") as zin, \
            zipfile.ZipFile(tmp_path / "bomb.pt", "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
        with zout.open(f"{zin.namelist()[0].split('/')[0]}/data/1", "w", force_zip64=True) as member:
            for _ in range(128):
                member.write(bytes(4 * 2**20))  # 512 MiB of zeros, half a megabyte on disk
    with peak_rss() as rss, pytest.raises(UnsafeFileError, match="declares"):
        cnnvis.load(tmp_path / "bomb.pt", model=torch.nn.Linear(2, 2))
    assert rss.growth_mb < 100, rss.growth_mb


@pytest.mark.parametrize("how", ["raw pickle", "torch.save"])
def test_pt_checkpoint_pickles_are_refused(tmp_path, marker, payload_pickle, how):
    import torch

    path = tmp_path / "evil.pt"
    if how == "raw pickle":
        path.write_bytes(payload_pickle)
    else:
        torch.save({"state_dict": Payload(marker)}, path)
    with pytest.raises(UnsafeFileError, match="unpickle"):
        cnnvis.load(path, model=torch.nn.Linear(2, 2))


def test_onnx_external_data_outside_the_folder_is_refused(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((2, 2), np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])], [weight])
    folder = tmp_path / "model"
    folder.mkdir()
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(4, dtype=np.float32).tobytes())
    model = helper.make_model(graph)
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../secret.bin"), ("offset", "0"), ("length", "16")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    onnx.save_model(model, str(folder / "evil.onnx"))
    with pytest.raises(UnsafeFileError, match="outside the model's folder"):
        cnnvis.load(folder / "evil.onnx")


def test_keras_lambda_layers_are_refused_in_keras_and_h5_files(tmp_path, marker):
    keras = pytest.importorskip("keras")
    # A lambda is stored as bytecode (a named function only by name): the payload a file would carry.
    touch = lambda t, path=str(marker): (open(path, "w").write("payload ran"), t)[1]  # noqa: E731, SIM115
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(touch)(keras.layers.Dense(2)(inputs)))
    os.remove(marker)  # building the model ran it once, here, on purpose; loading must not
    for suffix in (".keras", ".h5"):
        file = tmp_path / f"lambda{suffix}"
        model.save(file)
        with pytest.raises(UnsafeFileError, match="safe_mode"):
            cnnvis.load(file)
        assert not marker.exists(), suffix


def escaping_keras_archive(tmp_path, evil, escaped) -> None:
    """A real .keras archive at ``evil`` plus a member whose path climbs out to ``escaped``."""
    keras = pytest.importorskip("keras")
    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(tmp_path / "good.keras")
    with zipfile.ZipFile(tmp_path / "good.keras") as zin, zipfile.ZipFile(evil, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
        zout.writestr("assets/../../../../../../../" + str(escaped).lstrip("/"), b"escaped")


def test_keras_archive_member_paths_cannot_leave_the_archive(tmp_path):
    escaped = tmp_path / "escaped.txt"
    escaping_keras_archive(tmp_path, tmp_path / "evil.keras", escaped)
    try:
        cnnvis.load(tmp_path / "evil.keras")
    except CnnvisError:
        pass
    assert not escaped.exists()


def test_pickles_named_like_arrays_are_refused(tmp_path, marker, payload_pickle):
    from cnnvis.services.codec import read_inputs_file
    from cnnvis.services.errors import BadRequest

    (tmp_path / "evil.npy").write_bytes(payload_pickle)
    np.save(tmp_path / "objects.npy", np.array([Payload(marker)], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "objects.npz", inputs=np.array([Payload(marker)], dtype=object))
    for name in ("evil.npy", "objects.npy", "objects.npz"):
        with pytest.raises(BadRequest):
            read_inputs_file(tmp_path / name)
