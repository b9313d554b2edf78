"""The server's own Authorizer decides: a read-only user cannot open models or start jobs."""

import pytest
import tornado.httpclient
from jupyter_server.auth.authorizer import Authorizer


class NoWritesNoScalars(Authorizer):
    """A read-only user who may not see training scalars either."""

    def is_authorized(self, handler, user, action, resource):
        return action == "read" and resource != "cnnvis:scalars"


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"cnnvis": True}, "allow_root": True,
                          "authorizer_class": NoWritesNoScalars}}


async def test_authorizer_denials(api, jp_ws_fetch, logdir):
    code, _ = await api("status")
    assert code == 200
    code, _ = await api("models")
    assert code == 200
    code, reply = await api("models", method="POST", body={"path": "tiny.pt2"})
    assert code == 403 and "write" in reply["message"]
    for route, body in ((("compare",), {"models": ["a", "b"]}), (("models", "abc", "profile"), {})):
        code, _ = await api(*route, method="POST", body=body)  # comparing and profiling are writes
        assert code == 403, route
    code, _ = await api("models", "abc", "profile")  # reading is allowed: no such model
    assert code == 404
    code, _ = await api("jobs", method="POST", body={"model": "x", "method": "scorecam"})
    assert code == 403
    code, _ = await api("jobs", "abc", method="DELETE")
    assert code == 403
    for route in (("runs",), ("scalars", "updates"), ("histograms",), ("images",), ("images", "data")):
        code, _ = await api(*route, params={"logdir": logdir, "run": "a", "tag": "loss", "step": "0"})
        assert code == 403, route
    with pytest.raises(tornado.httpclient.HTTPClientError) as err:
        await jp_ws_fetch("cnnvis", "api", "stream", "scalars", params={"logdir": logdir})
    assert err.value.code == 403
    code, devices = await api("devices")  # reading devices is allowed, issuing or revoking tokens is not
    assert code == 200 and devices == []
    code, _ = await api("tokens", method="POST", body={"name": "lab"})
    assert code == 403
    code, _ = await api("tokens", "lab", method="DELETE")
    assert code == 403
