"""OpenAPI entries of the Jetson routes (merged into ``openapi.spec``)."""

from __future__ import annotations

from .openapi_schema import INT, STR, obj, op, param

DEVICE = param("device_id", "path", description="The device's name, as its agent gave it (--name).")
SINCE = param("since", schema=INT, description="Sequence number already held; later samples come back.")


def device_paths() -> dict:
    return {
        "/api/devices": {"get": op(
            "Jetson devices seen so far: a JSON list of {id, name, connected, token, info, first_seen, "
            "last_seen, last_seq, count}.", "cnnvis:devices")},
        "/api/devices/{device_id}/samples": {"get": op(
            "Stored samples after since=, in sequence order: {device, since, cursor, more, samples: "
            "[{seq, t, received, time, ...the read_tegrastats fields}]}; at most limit= (default 10000) a "
            "page, more: true when there are others (ask again with since=cursor). format=csv or "
            "format=parquet (where pyarrow is installed) exports every sample after since= as a table.",
            "cnnvis:devices",
            params=[DEVICE, SINCE, param("limit", schema=INT),
                    param("format", schema={"enum": ["json", "csv", "parquet"]})],
            content=("application/json", "text/csv", "application/vnd.apache.parquet"))},
        "/api/devices/{device_id}/live": {"get": op(
            "WebSocket: 'hello' with the device, the stored samples after since= if given, then each new "
            "sample as it is stored ('samples' messages) and 'status' {connected} when its agent comes or goes.",
            "cnnvis:devices", params=[DEVICE, SINCE], websocket=True)},
        "/api/tokens": {
            "get": op("Device tokens: {tokens: [{name, created, revoked, last_used, active}]} (never the "
                       "tokens themselves).", "cnnvis:devices"),
            "post": op("Issue a device token for the Jetson device 'name': {name, token}; the token is "
                       "shown only here and lets an agent connect as that device only.",
                        "cnnvis:devices", ok="201", body=obj(name_=STR)),
        },
        "/api/tokens/{name}": {"delete": op(
            "Revoke a device token; agents using it are disconnected within a second.", "cnnvis:devices",
            params=[param("name", "path")])},
        "/api/agent/cnnvis_agent.py": {"get": op(
            "The Jetson agent (one Python file, standard library only) to copy onto a device.",
            "cnnvis:devices", content=("text/x-python",))},
        "/api/agent": {"get": {**op(
            "WebSocket where Jetson agents connect (name= the device). Not Jupyter authentication: the "
            "X-Cnnvis-Device-Token header must hold an active device token created for this name (403 "
            "otherwise, with the reason in {message}). The agent sends 'hello' {info}, then 'samples' [{seq, t, "
            "line | jtop | profile}] in messages of at most 4 MiB (larger: close code 1009); the server "
            "answers 'welcome' {last_seq} and 'ack' {seq} once everything up to seq is stored. Close code "
            "4403: token revoked.",
            "device-token", params=[param("name", required=True)], websocket=True),
            "security": [{"deviceToken": []}]}},
    }
