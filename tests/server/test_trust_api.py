"""The trust routes: the sanity check and deletion/insertion curves of an open model's maps, with
the settings of the request or of the last explain; bad options are 400s."""

import numpy as np
import pytest

from cnnvis.services import ModelSession


@pytest.fixture
def module_model(jp_serverapp):
    """A live nn.Module (as a kernel attaches one): torch.export files cannot be copied to randomise."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(8, 4)).eval()
    x = np.random.default_rng(0).normal(size=(3, 3, 16, 16)).astype(np.float32)
    dispatcher = jp_serverapp.web_app.settings["cnnvis"].dispatcher
    return dispatcher.add_session("live", ModelSession(model, x))


async def test_sanity_check_through_the_server(api, module_model, open_model):
    model = module_model
    code, reply = await api("models", model, "sanity", method="POST",
                            body={"method": "gradcam", "layer": "2", "indices": [0, 1], "threshold": 0.4})
    assert code == 200, reply
    assert reply["layer"] == "2" and reply["threshold"] == 0.4 and reply["inputs"] == 2
    assert isinstance(reply["passed"], bool) and reply["verdict"]
    assert reply["stages"][0]["layer"] == "(original)" and len(reply["stages"]) == 4
    exported = await open_model()  # a torch.export file opened from disk: randomised copies come from the file
    code, reply = await api("models", exported, "sanity", method="POST", body={"layer": "conv2", "indices": [0]})
    assert code == 200, reply
    assert reply["layer"] == "conv2" and reply["stages"][0]["layer"] == "(original)" and len(reply["stages"]) > 1


async def test_faithfulness_uses_the_last_explain_settings(api, open_model):
    model = await open_model()
    code, _ = await api("models", model, "explain", method="POST", body={"layer": "conv1", "target": 1})
    assert code == 200
    code, reply = await api("models", model, "faithfulness", method="POST",
                            body={"steps": 4, "metrics": ["deletion"], "indices": [2]})
    assert code == 200, reply
    assert reply["layer"] == "conv1" and reply["targets"] == [1] and list(reply["metrics"]) == ["deletion"]
    assert len(reply["metrics"]["deletion"]["mean_curve"]) == 5


async def test_trust_routes_refuse_bad_options(api, open_model):
    model = await open_model()
    for route, body in (("faithfulness", {"steps": 0}), ("faithfulness", {"metrics": "deletion"}),
                        ("faithfulness", {"metrics": ["roads"]}), ("sanity", {"threshold": "high"}),
                        ("sanity", {"indices": [99]}), ("sanity", {"target": "x"})):
        code, reply = await api("models", model, route, method="POST", body=body)
        assert code == 400, (route, body, reply)
        assert reply["message"]
    code, reply = await api("models", model, "sanity", method="POST", body={"inputs": "../x.npy"})
    assert code == 403
    code, reply = await api("models", "nope", "sanity", method="POST", body={})
    assert code == 404


async def test_explain_takes_box_and_class_targets_only_where_they_mean_something(api, open_model):
    model = await open_model()
    code, reply = await api("models", model, "explain", method="POST", body={"target": {"box": 0}})
    assert code == 400 and "detector" in reply["message"]
    for target in ({"class": -1}, {"box": 0, "class": 1}, {"score": 1}, {"box": "a"}):
        code, reply = await api("models", model, "explain", method="POST", body={"target": target})
        assert code == 400, (target, reply)
    code, reply = await api("models", model, "explain", method="POST", body={"target": 2})
    assert code == 200 and reply["output_kind"] == "classes" and reply["target"] == 2
