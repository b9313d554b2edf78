"""GET browse: what is under the server's root, for the panel's first view."""

import os


async def test_browse_lists_the_root_and_refreshes(api, root, logdir, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "elsewhere.onnx").write_bytes(b"x")
    os.symlink(outside, root / "escape")
    code, reply = await api("browse")
    assert code == 200, reply
    found = {(i["kind"], i["path"]) for i in reply["items"]}
    assert ("logdir", "runs") in found and ("model", "tiny.pt2") in found
    assert not any("elsewhere" in path for _, path in found)
    assert all(not os.path.isabs(i["path"]) for i in reply["items"])
    (root / "later.onnx").write_bytes(b"x")
    code, reply = await api("browse", params={"refresh": "1"})
    assert ("model", "later.onnx") in {(i["kind"], i["path"]) for i in reply["items"]}
