"""The batch results route on a real `cnnvis.batch` run under the server root: JSON without
thumbnails, the framed reply with one PNG per row, and paths outside the root refused."""

import shutil

import pytest

pytest.importorskip("torch")
pytest.importorskip("pyarrow")

from batch_run import COUNT, make_batch_run  # noqa: E402

from cnnvis.services.codec import REPLY_MIME, from_reply_frames  # noqa: E402


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    return make_batch_run(tmp_path_factory.mktemp("batchapi"))


@pytest.fixture
def results(jp_root_dir, finished_run):
    shutil.copytree(finished_run, jp_root_dir / "out" / "results")
    return "out/results"


async def test_batch_results_json_and_framed(api, results):
    code, reply = await api("batch", "results", params={"dir": results, "limit": "5"})
    assert code == 200, reply
    assert reply["metric"] == "deletion" and reply["worst"] == "highest" and "highest first" in reply["order"]
    assert sum(g["count"] for g in reply["groups"]) == COUNT
    for group in reply["groups"]:
        aucs = [r["deletion"] for r in group["rows"]]
        assert len(aucs) == 5 and aucs == sorted(aucs, reverse=True)
        assert "thumbnail" not in group["rows"][0]  # plain JSON carries no images
    response = await api("batch", "results", params={"dir": results, "class": "1", "limit": "4"}, raw=True,
                         headers={"Accept": REPLY_MIME})
    assert response.headers["Content-Type"].startswith(REPLY_MIME)
    framed, buffers = from_reply_frames(response.body)
    (group,) = framed["groups"]
    assert group["class"] == 1 and [r["thumbnail"] for r in group["rows"]] == [0, 1, 2, 3]
    assert len(buffers) == 4 and all(b[:8] == b"\x89PNG\r\n\x1a\n" for b in buffers)


async def test_batch_results_refusals(api, results):
    for query, status in (({"dir": "../x"}, 403), ({"dir": "/etc"}, 403), ({"dir": "nowhere"}, 404),
                          ({"dir": "out"}, 404), ({"dir": results, "limit": "0"}, 400),
                          ({"dir": results, "method": "scorecam"}, 400), ({"dir": results, "class": "x"}, 400),
                          ({}, 400)):
        code, reply = await api("batch", "results", params=query)
        assert code == status, (query, reply)
        assert reply["message"]
