"""The training media routes: live scalar updates, histograms and images (metadata + image bytes)."""

import asyncio
import json
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pytest

from cnnvis.scalars import EventWriter
from cnnvis.scalars.writers import encode_png


async def test_histogram_tags_and_one_series(api, media_logdir):
    code, listing = await api("histograms", params={"logdir": media_logdir})
    assert code == 200 and listing["logdir"] == "media"  # the client's path, not the server's
    assert listing["runs"] == [{"run": "a", "tags": [{"tag": "weights/conv1", "count": 30, "last_step": 29}]}]
    code, series = await api("histograms", params={"logdir": media_logdir, "run": "a", "tag": "weights/conv1",
                                                   "limit": 5})
    assert code == 200 and series["total"] == 30 and len(series["steps"]) == 5
    assert series["steps"][0] == 0 and series["steps"][-1] == 29  # spread over the run, ends kept
    assert all(len(e) == len(c) + 1 for e, c in zip(series["edges"], series["counts"], strict=True))
    assert sum(series["counts"][0]) == pytest.approx(400) and series["num"][0] == 400
    assert series["min"][-1] < series["max"][-1]


@pytest.mark.parametrize(("query", "status"), [
    ({"run": "a"}, 400),
    ({"tag": "weights/conv1"}, 400),
    ({"run": "a", "tag": "weights/conv1", "limit": "0"}, 400),
    ({"run": "a", "tag": "weights/conv1", "limit": "many"}, 400),
    ({"run": "a", "tag": "no/such/tag"}, 404),
    ({"run": "b", "tag": "weights/conv1"}, 404),
])
async def test_histogram_refusals(api, media_logdir, query, status):
    code, reply = await api("histograms", params={"logdir": media_logdir, **query})
    assert code == status and reply["message"]


async def test_images_metadata_urls_and_bytes(api, jp_fetch, jp_base_url, media_logdir):
    code, listing = await api("images", params={"logdir": media_logdir})
    assert code == 200 and listing["runs"] == [{"run": "a", "tags": [{"tag": "sample", "count": 3,
                                                                      "steps": [0, 10, 20]}]}]
    code, reply = await api("images", params={"logdir": media_logdir, "run": "a", "tag": "sample"})
    assert code == 200 and reply["total"] == 3
    assert [m["step"] for m in reply["images"]] == [0, 10, 20]
    for meta in reply["images"]:
        assert (meta["width"], meta["height"], meta["mime"]) == (5, 6, "image/png") and "buffer" not in meta
        url = urlsplit(meta["url"])
        assert url.path.startswith(jp_base_url + "cnnvis/api/images/data")
        response = await jp_fetch(url.path[len(jp_base_url):], params=dict(parse_qsl(url.query)))
        assert response.headers["Content-Type"] == "image/png"
        assert response.body == encode_png(np.full((6, 5, 3), meta["step"] * 8, np.uint8))

    code, one = await api("images", params={"logdir": media_logdir, "run": "a", "tag": "sample", "step": 10})
    assert code == 200 and [m["step"] for m in one["images"]] == [10]
    code, two = await api("images", params={"logdir": media_logdir, "run": "a", "tag": "sample", "limit": 2})
    assert code == 200 and [m["step"] for m in two["images"]] == [0, 20]


@pytest.mark.parametrize(("query", "status"), [
    ({"run": "a", "tag": "sample", "step": "10", "index": "1"}, 404),
    ({"run": "a", "tag": "sample", "step": "11"}, 404),
    ({"run": "a", "tag": "nope", "step": "10"}, 404),
    ({"run": "a", "tag": "sample"}, 400),
    ({"run": "a", "tag": "sample", "step": "ten"}, 400),
    ({"run": "a", "tag": "sample", "step": "10", "index": "-1"}, 400),
    ({"tag": "sample", "step": "10"}, 400),
])
async def test_image_data_refusals(api, media_logdir, query, status):
    code, reply = await api("images", "data", params={"logdir": media_logdir, **query})
    assert code == status and reply["message"]


async def test_scalar_updates_follow_cursors(api, root, media_logdir):
    code, first = await api("scalars", "updates", params={"logdir": media_logdir})
    assert code == 200 and first["logdir"] == "media"
    (chunk,) = first["series"]
    assert (chunk["run"], chunk["tag"], chunk["since"], chunk["cursor"]) == ("a", "loss", 0, 30)
    assert chunk["steps"] == list(range(30)) and len(chunk["lo"]) == 30
    cursors = json.dumps({"a": {"loss": chunk["cursor"]}})

    with EventWriter(root / "media" / "a", filename_suffix=".more") as writer:  # training carries on
        for step in range(30, 35):
            writer.add_scalar("loss", 0.01, step)
    for _ in range(50):  # the logdir is re-read at most every few tenths of a second
        code, more = await api("scalars", "updates", params={"logdir": media_logdir, "cursors": cursors})
        if more["series"]:
            break
        await asyncio.sleep(0.1)
    assert code == 200
    (chunk,) = more["series"]
    assert chunk["since"] == 30 and chunk["cursor"] == 35 and chunk["steps"] == list(range(30, 35))
    code, none = await api("scalars", "updates", params={"logdir": media_logdir,
                                                         "cursors": json.dumps({"a": {"loss": 35}})})
    assert code == 200 and none["series"] == []
    code, reset = await api("scalars", "updates", params={"logdir": media_logdir,
                                                          "cursors": json.dumps({"a": {"loss": 99}})})
    assert code == 200 and reset["series"][0]["reset"] is True and reset["series"][0]["since"] == 0
    code, clamped = await api("scalars", "updates", params={"logdir": media_logdir, "points": str(10**9)})
    assert code == 200 and not clamped["series"][0]["downsampled"]  # clamped, not refused


@pytest.mark.parametrize("query", [
    {"cursors": "{not json"}, {"cursors": "[1, 2]"}, {"cursors": '{"a": 5}'},
    {"cursors": '{"a": {"loss": -1}}'}, {"cursors": '{"a": {"loss": "x"}}'}, {"points": "2"},
    {"points": "lots"},
])
async def test_scalar_updates_refusals(api, media_logdir, query):
    code, reply = await api("scalars", "updates", params={"logdir": media_logdir, **query})
    assert code == 400 and reply["message"]


@pytest.mark.parametrize("route", [("scalars", "updates"), ("histograms",), ("images",), ("images", "data")])
@pytest.mark.parametrize(("logdir", "status"), [("../", 403), ("/etc", 403), ("memory://runs", 403),
                                                ("missing", 404), ("", 400)])
async def test_logdirs_outside_root_are_refused(api, root, route, logdir, status):
    query = {"logdir": logdir, "run": "a", "tag": "sample", "step": "0"} if route[-1] == "data" else {"logdir": logdir}
    code, reply = await api(*route, params=query)
    assert code == status, (route, logdir, reply)
