"""Generated bad parameters on every route: never a 5xx, and the server keeps answering.

Hypothesis draws the examples (a bounded number per route) in a plain function; the async test
then replays them against the live server, which runs on the test's own event loop.
"""

import json
import re
import shutil

import tornado.httpclient
from batch_run import fake_batch_run
from helpers import shared_fixture_dir
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from server_routes import cnnvis_routes, template

EXAMPLES = 30
WORDS = ["", ".", "..", "../", "../../etc/passwd", "/etc/passwd", "~root", "runs", "runs/a", "a", "loss",
         "tiny.pt2", "evil.pt2", "inputs.npy", "objects.npy", "conv2", "fc", "scorecam", "gradcam",
         "ablationcam", "jet", "nan", "inf", "-1", "1e309", "0", "3", "s3://bucket/x", "memory://x",
         "é☃", "%00", "a/../../b", "runs/../..", "link", "\\x", "{}", "[]", "media", "weights/conv1", "sample",
         "10", "batch", '{"a": {"loss": 3}}', '{"a": 1}', '{"a": {"loss": -1}}', '{"a": {"loss": null}}']
TEXT = st.one_of(st.sampled_from(WORDS), st.text(max_size=20))
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40),
                   st.floats(allow_nan=False, allow_infinity=False), TEXT)
JSON_VALUE = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                           st.dictionaries(TEXT, inner, max_size=3)),
                          max_leaves=6)
QUERY_KEYS = ["logdir", "run", "tag", "points", "smoothing", "since", "from", "limit", "step", "index", "cursors",
              "format", "name", "source", "source_model", "dir", "method", "class", "metric"]
BODY_KEYS = ["path", "inputs", "name", "class_names", "layer", "index", "method", "target", "indices",
             "alpha", "colormap", "top_k", "kind", "model", "chunk", "runs", "warmup", "optimized", "models",
             "names", "threshold", "steps", "metrics"]
QUERY = st.dictionaries(st.sampled_from(QUERY_KEYS), st.one_of(TEXT, st.integers().map(str)), max_size=6)
BODY = st.one_of(
    st.dictionaries(st.sampled_from(BODY_KEYS), JSON_VALUE, max_size=6).map(json.dumps),
    JSON_VALUE.map(json.dumps),
    st.binary(max_size=64).map(lambda b: b),
)
IDENT = st.one_of(st.sampled_from(["abc", "0", "x" * 64, "-", "_"]), st.from_regex(r"[A-Za-z0-9_-]{1,64}",
                                                                                    fullmatch=True))


def draw(strategy, n=EXAMPLES):
    """``n`` generated examples of ``strategy`` (no shrinking: the replay is what asserts)."""
    out = []

    @settings(max_examples=n, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value):
        out.append(value)

    collect()
    return out[:n]


async def test_fuzz_every_route(jp_serverapp, jp_root_dir, jp_base_url, api, jp_fetch, jp_ws_fetch, open_model, logdir,
                                media_logdir):
    model_id = await open_model()
    fake_batch_run(jp_root_dir / "batch")
    store = jp_serverapp.web_app.settings["cnnvis"].device_store
    store.attach("dev-1", "dev-1", "lab", {})
    store.add("dev-1", [{"seq": 1, "t": 1.0, "ram": None}])
    seen = set()
    failures = []

    async def check(label, *parts, ws=False, **kwargs):
        if ws:
            try:
                socket = await jp_ws_fetch(*parts, **kwargs)
                socket.close()
                return
            except tornado.httpclient.HTTPClientError as exc:
                code = exc.code
        else:
            code = (await jp_fetch(*parts, raise_error=False, **kwargs)).code
        if code >= 500:
            failures.append((label, parts, kwargs, code))

    real = st.one_of(st.just(model_id), IDENT)
    engines = shared_fixture_dir("tensorrt")
    if engines is not None:  # a TensorRT export too, so profile and compare reach their engine paths
        shutil.copytree(engines / "a100_resnet_fp16", jp_root_dir / "fp16")
        code, engine = await api("models", method="POST", body={"path": "fp16/resnet.onnx.engine.graph.json"})
        real = st.one_of(st.just(model_id), st.just(engine["id"]), IDENT)
    for pattern, _handler in cnnvis_routes(jp_serverapp.web_app):
        path = template(pattern, jp_base_url)
        seen.add(path)
        if path in ("/api/runs", "/api/alerts", "/api/scalars"):
            for query in draw(QUERY):
                await check(path, "cnnvis" + path, params={"logdir": logdir, "run": "a", "tag": "loss", **query})
        elif path in ("/api/scalars/updates", "/api/histograms", "/api/images", "/api/images/data"):
            for query in draw(QUERY):
                base = {"logdir": media_logdir, "run": "a", "tag": "sample" if "images" in path else "weights/conv1"}
                await check(path, "cnnvis" + path, params={**base, "step": "10", **query})
        elif path == "/api/batch/results":
            for query, framed in draw(st.tuples(QUERY, st.booleans())):
                headers = {"Accept": "application/x-cnnvis-reply"} if framed else {}
                await check(path, "cnnvis/api/batch/results", params={"dir": "batch", **query}, headers=headers)
        elif path == "/api/models":
            for body in draw(BODY):
                await check(path, "cnnvis/api/models", method="POST", body=body)
        elif path in ("/api/models/{model_id}/activations", "/api/models/{model_id}/explain",
                      "/api/models/{model_id}/sanity", "/api/models/{model_id}/faithfulness"):
            for mid, body in draw(st.tuples(real, BODY)):
                await check(path, "cnnvis/api/models", mid, path.rsplit("/", 1)[1], method="POST", body=body)
        elif path == "/api/models/{model_id}/profile":
            for mid, body, method in draw(st.tuples(real, BODY, st.sampled_from(["GET", "POST"]))):
                await check(path, "cnnvis/api/models", mid, "profile", method=method,
                            body=body if method == "POST" else None)
        elif path == "/api/models/{model_id}/source-graph":
            for mid, query in draw(st.tuples(real, QUERY)):
                await check(path, "cnnvis/api/models", mid, "source-graph", params=query)
        elif path == "/api/compare":
            ids = st.lists(real, max_size=4).map(lambda m: json.dumps({"models": m}))
            for body in draw(st.one_of(BODY, ids)):
                await check(path, "cnnvis/api/compare", method="POST", body=body)
        elif path == "/api/models/{model_id}/graph":
            for mid in draw(real):
                await check(path, "cnnvis/api/models", mid, "graph")
        elif path == "/api/models/{model_id}/explain/{result_id}/{index}":
            for mid, rid, index in draw(st.tuples(real, IDENT, st.integers(0, 999999))):
                await check(path, "cnnvis/api/models", mid, "explain", rid, str(index))
        elif path == "/api/jobs":
            for body in draw(BODY):
                await check(path, "cnnvis/api/jobs", method="POST", body=body)
        elif path == "/api/jobs/{job_id}":
            for jid, method in draw(st.tuples(IDENT, st.sampled_from(["GET", "DELETE"]))):
                await check(path, "cnnvis/api/jobs", jid, method=method)
        elif path == "/api/jobs/{job_id}/artifacts/{index}":
            for jid, index in draw(st.tuples(IDENT, st.integers(0, 999999))):
                await check(path, "cnnvis/api/jobs", jid, "artifacts", str(index))
        elif path == "/api/stream/scalars":
            for query in draw(QUERY, 15):
                await check(path, "cnnvis/api/stream/scalars", ws=True, params=query)
        elif path == "/api/stream/jobs/{job_id}":
            for jid in draw(IDENT, 15):
                await check(path, "cnnvis/api/stream/jobs", jid, ws=True)
        elif path == "/api/devices/{device_id}/samples":
            for dev, query in draw(st.tuples(st.one_of(st.just("dev-1"), IDENT), QUERY)):
                await check(path, "cnnvis/api/devices", dev, "samples", params=query)
        elif path == "/api/devices/{device_id}/live":
            for dev, query in draw(st.tuples(st.one_of(st.just("dev-1"), IDENT), QUERY), 15):
                await check(path, "cnnvis/api/devices", dev, "live", ws=True, params=query)
        elif path == "/api/tokens":
            for body in draw(st.one_of(BODY, st.fixed_dictionaries({"name": TEXT}).map(json.dumps))):
                await check(path, "cnnvis/api/tokens", method="POST", body=body)
        elif path == "/api/tokens/{name}":
            for name in draw(IDENT, 15):
                await check(path, "cnnvis/api/tokens", name, method="DELETE")
        elif path == "/api/agent":
            for token, query in draw(st.tuples(TEXT, QUERY), 15):
                # HTTP clients refuse control characters in a header value before sending: fuzz what can be sent.
                value = re.sub(r"[\x00-\x08\x0a-\x1f\x7f]", "?", token.encode("ascii", "replace").decode())
                headers = {"X-Cnnvis-Device-Token": value}
                await check(path, "cnnvis/api/agent", ws=True, params=query, headers=headers)
        elif path == "/static/{path}":
            for name in draw(TEXT):
                await check(path, "cnnvis/static/" + name)
        else:  # page, status, openapi: no parameters, but junk ones must not matter
            for query in draw(QUERY, 5):
                await check(path, "cnnvis" + path, params=query)
    assert not failures, failures[:5]
    assert len(seen) >= 21
    code, status = await api("status")
    assert code == 200 and status["version"]
    # Jobs the fuzzer managed to start must not wedge the server either.
    code, jobs = await api("jobs")
    assert code == 200
    for job in jobs["jobs"]:
        await api("jobs", job["id"], method="DELETE")
