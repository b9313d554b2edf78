"""Every cnnvis route needs Jupyter authentication and passes the server's authorizer."""

import json

import pytest
import tornado.httpclient
from server_routes import cnnvis_routes, example_url, methods, template

NO_AUTH = {"Authorization": ""}


async def test_every_route_refuses_requests_without_a_token(jp_serverapp, jp_fetch, jp_ws_fetch, jp_base_url):
    routes = cnnvis_routes(jp_serverapp.web_app)
    assert len(routes) >= 19, routes
    checked = 0
    for pattern, handler in routes:
        url = example_url(pattern, jp_base_url)
        for method in methods(handler):
            if method == "WS":
                with pytest.raises(tornado.httpclient.HTTPClientError) as err:
                    await jp_ws_fetch(url, headers=dict(NO_AUTH), params={"logdir": "runs"})
                assert err.value.code == 403, (pattern, err.value)
            else:
                body = b"{}" if method in ("POST", "PUT", "PATCH") else None
                response = await jp_fetch(url, method=method, body=body, headers=dict(NO_AUTH),
                                          raise_error=False, follow_redirects=False)
                login = response.code == 302 and "login" in response.headers.get("Location", "")
                assert response.code == 403 or login, (method, pattern, response.code)
            checked += 1
    assert checked >= 22


async def test_every_route_is_in_openapi(jp_serverapp, jp_fetch, jp_base_url):
    response = await jp_fetch("cnnvis", "api", "openapi.json")
    spec = json.loads(response.body)
    assert spec["openapi"].startswith("3.")
    for pattern, handler in cnnvis_routes(jp_serverapp.web_app):
        path = template(pattern, jp_base_url)
        assert path in spec["paths"], path
        documented = spec["paths"][path]
        for method in methods(handler):
            if method == "WS":
                assert documented["get"].get("x-websocket") is True, path
            else:
                assert method.lower() in documented, (method, path)


async def test_openapi_names_each_handlers_auth_resource(jp_serverapp, jp_fetch, jp_base_url):
    spec = json.loads((await jp_fetch("cnnvis", "api", "openapi.json")).body)
    for pattern, handler in cnnvis_routes(jp_serverapp.web_app):
        documented = spec["paths"][template(pattern, jp_base_url)]
        for op in documented.values():
            assert op["x-cnnvis-auth-resource"] == handler.auth_resource, (pattern, handler)


async def test_agent_route_takes_a_device_token_and_nothing_else(jp_fetch, jp_ws_fetch, api):
    """The Jupyter token does not open the agent WebSocket, and a device token opens nothing else."""
    with pytest.raises(tornado.httpclient.HTTPClientError) as err:
        await jp_ws_fetch("cnnvis", "api", "agent", params={"name": "dev"})  # Jupyter-authenticated
    assert err.value.code == 403
    code, created = await api("tokens", method="POST", body={"name": "lab"})
    assert code == 201 and created["token"].startswith("cnvd_")
    socket = await jp_ws_fetch("cnnvis", "api", "agent", params={"name": "lab"},
                               headers={"X-Cnnvis-Device-Token": created["token"]})
    socket.close()
    for route in ("devices", "tokens", "status"):
        response = await jp_fetch("cnnvis", "api", route, raise_error=False, follow_redirects=False,
                                  headers={"Authorization": "", "X-Cnnvis-Device-Token": created["token"]})
        assert response.code in (302, 403), route
    code, tokens = await api("tokens")
    assert [(t["name"], t["active"]) for t in tokens["tokens"]] == [("lab", True)]
    assert "token" not in tokens["tokens"][0]  # only hashes are stored
    code, _ = await api("tokens", method="POST", body={"name": "lab"})
    assert code == 400  # an active name is not reissued
    code, _ = await api("tokens", "lab", method="DELETE")
    assert code == 200
    with pytest.raises(tornado.httpclient.HTTPClientError) as err:
        await jp_ws_fetch("cnnvis", "api", "agent", params={"name": "lab"},
                          headers={"Authorization": "", "X-Cnnvis-Device-Token": created["token"]})
    assert err.value.code == 403
