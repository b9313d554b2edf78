"""The attribution routes: pixel attributions and concepts of an open model as JSON with artifact
URLs or one framed reply, explain's smoothing switches and method options, ROAD among the
faithfulness metrics, each documented in openapi.json; bad options are 400s."""

import json

import numpy as np

from cnnvis.services.codec import REPLY_MIME, from_npy, from_reply_frames


async def test_attribute_answers_artifacts_and_framed_replies(api, open_model, jp_fetch):
    model = await open_model()
    code, reply = await api("models", model, "attribute", method="POST",
                            body={"method": "saliency", "target": 1, "indices": [0, 2]})
    assert code == 200, reply
    assert reply["shape"] == [2, 16, 16] and [a["name"] for a in reply["artifacts"]] == ["maps", "raw", "images"]
    response = await api("models", model, "attribute", reply["id"], "0", raw=True)
    maps = from_npy(response.body)
    assert maps.shape == (2, 16, 16) and np.isclose(maps.reshape(2, -1).max(axis=1), 1).all()
    framed = await jp_fetch("cnnvis/api", "models", model, "attribute", method="POST", headers={"Accept": REPLY_MIME},
                            body=json.dumps({"method": "integrated_gradients", "steps": 4, "indices": [1]}))
    result, buffers = from_reply_frames(framed.body)
    assert result["signed"] and len(buffers) == 3 and from_npy(buffers[1]).shape == (1, 16, 16)


async def test_concepts_route(api, open_model):
    model = await open_model()
    code, reply = await api("models", model, "concepts", method="POST",
                            body={"layer": "conv2", "n_components": 2, "top_k": 1})
    assert code == 200, reply
    assert reply["layer"] == "conv2" and reply["shape"] == [4, 2, 16, 16] and len(reply["concepts"]) == 2
    assert len(reply["concepts"][0]["top_classes"]) == 1
    response = await api("models", model, "concepts", reply["id"], "1", raw=True)
    assert from_npy(response.body).shape == (4, 16, 16)


async def test_explain_smoothing_options_and_road(api, open_model):
    model = await open_model()
    code, reply = await api("models", model, "explain", method="POST",
                            body={"method": "fem", "layer": "conv2", "eigen_smooth": True, "aug_smooth": True,
                                  "options": {"k": 1}})
    assert code == 200, reply
    assert reply["method"] == "fem" and reply["eigen_smooth"] and reply["aug_smooth"]
    code, reply = await api("models", model, "faithfulness", method="POST", body={"metrics": ["road"], "indices": [0]})
    assert code == 200, reply
    assert reply["metrics"]["road"]["metric"] == "road"


async def test_bad_options_are_400s(api, open_model):
    model = await open_model()
    for route, body in (("attribute", {"method": "gradcam"}), ("attribute", {"steps": 0}),
                        ("attribute", {"noise": "loud"}), ("concepts", {"n_components": 0}),
                        ("concepts", {"layer": "nope"}), ("explain", {"aug_smooth": 1}),
                        ("explain", {"options": {"seed": "x"}}), ("faithfulness", {"metrics": ["roads"]})):
        code, reply = await api("models", model, route, method="POST", body=body)
        assert code == 400, (route, body, reply)
        assert reply["message"]


async def test_routes_are_documented(api):
    code, spec = await api("openapi.json")
    assert code == 200
    for path in ("/api/models/{model_id}/attribute", "/api/models/{model_id}/concepts",
                 "/api/models/{model_id}/attribute/{result_id}/{index}"):
        assert spec["paths"][path], path
    body = spec["paths"]["/api/models/{model_id}/explain"]["post"]["requestBody"]["content"]["application/json"]
    assert {"eigen_smooth", "aug_smooth", "options"} <= set(body["schema"]["properties"])
