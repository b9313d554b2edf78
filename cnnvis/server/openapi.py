"""OpenAPI 3 description of every cnnvis route (served at ``{base_url}cnnvis/api/openapi.json``).

A test walks the server's routing table and checks that each cnnvis route is listed here.
"""

from __future__ import annotations

from .. import __version__
from .attribution_handlers import attribution_paths
from .browse_handlers import browse_paths
from .compare_handlers import compare_paths
from .device_openapi import device_paths
from .openapi_schema import (
    EXPLAIN_BODY,
    INDEX,
    INT,
    JOB,
    JSON,
    LOGDIR,
    MODEL,
    NPY,
    NUM,
    PNG,
    REPLY,
    STR,
    TRUST_BODY,
    obj,
    op,
    param,
)


def core_paths() -> dict:
    """The page, status, scalars, models, explanations and jobs."""
    return {
        "/": {"get": op("The cnnvis page (HTML).", "cnnvis:status", content=("text/html",))},
        "/static/{path}": {"get": op("The page's assets.", "cnnvis:status", params=[param("path", "path")],
                                      content=("application/javascript", "text/css"))},
        "/api/openapi.json": {"get": op("This document.", "cnnvis:status")},
        "/api/status": {"get": op("Version, plugins, CAM methods and server limits.", "cnnvis:status")},
        "/api/runs": {"get": op("Runs and their tags in a logdir.", "cnnvis:scalars", params=[LOGDIR])},
        "/api/scalars": {"get": op(
            "One tag's points, downsampled with a min/max envelope (lo/hi) and optionally smoothed. "
            "since= is the index of points already seen; the reply's cursor is the next one. "
            "points= is clamped to CnnvisExtension.max_scalar_points.", "cnnvis:scalars",
            params=[LOGDIR, param("run", required=True), param("tag", required=True),
                    param("points", schema=INT), param("smoothing", schema=NUM),
                    param("since", schema=INT)])},
        "/api/alerts": {"get": op("Training health alerts for a logdir.", "cnnvis:scalars", params=[LOGDIR])},
        "/api/scalars/updates": {"get": op(
            "Every run/tag's points after the client's cursors, new runs and tags included: "
            "{logdir, series: [{run, tag, since, cursor, reset, downsampled, steps, values, wall_times, "
            "lo, hi}]}. cursors= is JSON {run: {tag: count}} (the cursor of each series already held); "
            "a series that shrank comes again from 0 with reset: true.", "cnnvis:scalars",
            params=[LOGDIR, param("cursors", description="JSON object {run: {tag: count}}"),
                    param("points", schema=INT)])},
        "/api/histograms": {"get": op(
            "Without run/tag: {logdir, runs: [{run, tags: [{tag, count, last_step}]}]}. With both: "
            "{run, tag, total, steps, wall_times, min, max, num, edges, counts}, at most limit= "
            "histograms (default 100) spread over the run.", "cnnvis:scalars",
            params=[LOGDIR, param("run"), param("tag"), param("limit", schema=INT)])},
        "/api/images": {"get": op(
            "Without run/tag: {logdir, runs: [{run, tags: [{tag, count, steps}]}]}. With both: "
            "{run, tag, total, images: [{step, wall_time, width, height, index, mime, url}]} for step= "
            "or up to limit= (default 20) spread over the run; each url fetches the image.",
            "cnnvis:scalars",
            params=[LOGDIR, param("run"), param("tag"), param("step", schema=INT),
                    param("limit", schema=INT)])},
        "/api/images/data": {"get": op(
            "One image's stored bytes (PNG, JPEG or GIF as written; Content-Type says which).",
            "cnnvis:scalars",
            params=[LOGDIR, param("run", required=True), param("tag", required=True),
                    param("step", required=True, schema=INT),
                    param("index", schema=INT, description="Position within the step (default 0)")],
            content=(PNG, "image/jpeg", "image/gif"))},
        "/api/models": {
            "get": op("Open models.", "cnnvis:models"),
            "post": op("Open a model file under root_dir with cnnvis.load (.pt2, .pt, .keras, .h5, .onnx, TensorRT "
                        "exports recognised by content, trtexec logs, .engine where TensorRT runs); inputs= is an optional .npy, or "
                        ".npz (its 'inputs' array, else its only one); inputs_limit= keeps the first N (only those "
                        "are read; an array over max_input_bytes is a 413). The reply lists evicted (models closed "
                        "to stay within the caps) and, when parts of the file were left unread, ignored.",
                        "cnnvis:models", ok="201", body=obj(path_=STR, inputs=STR, inputs_limit=INT, name=STR,
                                                             class_names={"type": "array", "items": STR})),
        },
        "/api/models/{model_id}": {"delete": op(
            "Close an open model: {closed, models (the ids still open)}. The server also closes the least "
            "recently used models beyond max_sessions / max_session_bytes; POST models lists them as evicted, "
            "and requests for a closed model answer 404.", "cnnvis:models", params=[MODEL])},
        "/api/models/{model_id}/graph": {"get": op("The model's graph (cnnvis.Graph.to_dict()).",
                                                    "cnnvis:models", params=[MODEL])},
        "/api/models/{model_id}/activations": {"post": op(
            "One input's activations at a layer. JSON (default): shape and per-channel stats. "
            "With 'Accept: application/x-npy': the (C, H, W) float32 array, shape in X-Cnnvis-Shape. With "
            "'Accept: application/x-cnnvis-reply': stats and array in one framed reply.",
            "cnnvis:models", params=[MODEL], body=obj(layer_=STR, index=INT, inputs=STR, inputs_limit=INT),
            content=(JSON, NPY, REPLY))},
        "/api/models/{model_id}/explain": {"post": op(
            "CAM explanation. JSON reply; 'artifacts' lists a URL per PNG overlay and per .npy array "
            "(raw, maps, images), fetched with GET; with 'Accept: application/x-cnnvis-reply' they come "
            "inline in one framed reply. For ScoreCAM/AblationCAM on many inputs use jobs.",
            "cnnvis:models", params=[MODEL], body=EXPLAIN_BODY, content=(JSON, REPLY))},
        "/api/models/{model_id}/explain/{result_id}/{index}": {"get": op(
            "One artifact of an explain reply (PNG or .npy).", "cnnvis:models",
            params=[MODEL, param("result_id", "path"), INDEX], content=(PNG, NPY))},
        "/api/models/{model_id}/profile": {
            "get": op("Per-layer latency table {framework, source, rows: [{node, op_type, precision, mean_ms, pct, "
                       "source_nodes, inputs/outputs (TensorRT: name, shape, format, precision per tensor)}], totals, "
                       "notes, timing}; timing is the per-iteration distribution {count, label, median_ms, mean_ms, "
                       "p90_ms, p95_ms, p99_ms, histogram: {edges, counts}} where a timing export exists (else null). "
                       "A TensorRT export answers from its files; an ONNX model answers its last POST.",
                       "cnnvis:models", params=[MODEL]),
            "post": op("Time an ONNX model on its inputs (or inputs=) with onnxruntime's profiler: runs, warmup, "
                        "optimized (fused kernels). Same reply as GET; timing is the distribution of model_run per "
                        "run.", "cnnvis:models", params=[MODEL],
                        body=obj(runs=INT, warmup=INT, optimized={"type": "boolean"}, inputs=STR, inputs_limit=INT)),
        },
        "/api/models/{model_id}/source-graph": {"get": op(
            "The ONNX graph the engine was built from, each node painted with the engine layer it was fused into "
            "(engine_layer, latency_ms, latency_share_ms, precision, fused_with), plus engine_only layers, unclaimed "
            "ONNX nodes and unmatched names (cnnvis.graph(engine, source=onnx)).", "cnnvis:models",
            params=[MODEL, param("source", description=".onnx file under root_dir"),
                    param("source_model", description="or the id of an open ONNX model")])},
        "/api/models/{model_id}/sanity": {"post": op(
            "Model-randomisation sanity check (cnnvis.sanity_check) of the explain settings given, else the "
            "last explain's: {method, layer, threshold, passed, verdict, final_spearman, stages: [{stage, layer, "
            "spearman, spearman_std, ssim, ssim_std}], targets, inputs}. Closing the connection cancels it.",
            "cnnvis:models", params=[MODEL], body=TRUST_BODY)},
        "/api/models/{model_id}/faithfulness": {"post": op(
            "Deletion/insertion curves and AUC (cnnvis.faithfulness) of the map for the explain settings given, "
            "else the last explain's: {method, layer, targets, inputs, metrics: {name: {metric, fractions, "
            "mean_curve, auc, mean_auc}}}; insertion starts from a blurred copy; metrics: [\"road\"] gives ROAD's "
            "{metric, percentiles, morf, lerf, combined, mean_combined}. Closing the connection cancels it.",
            "cnnvis:models", params=[MODEL], body=TRUST_BODY)},
        "/api/batch/results": {"get": op(
            "The results of a `cnnvis batch` run in dir= (a folder under root_dir holding results.parquet), per "
            "explained class, worst faithfulness first (deletion AUC highest first; insertion AUC lowest first): "
            "{dir, methods, method, metrics, metric, worst, order, classes, groups: [{class, count, rows: [{key, index, "
            "target, label, score, <metric>, thumbnail}]}], failed, thumbnail}. limit= rows per class (default 24). "
            "With 'Accept: application/x-cnnvis-reply' each row's thumbnail is the index of a PNG of its map "
            "(the map alone, coloured: runs store no images) in the framed reply.", "cnnvis:jobs",
            params=[param("dir", required=True), param("method"), param("class", schema=INT),
                    param("metric", schema={"enum": ["deletion", "insertion"]}), param("limit", schema=INT)],
            content=(JSON, REPLY))},
        "/api/compare": {"post": op(
            "Align two or more open engines (cnnvis.compare_engines): {alignment, names, models, rows, totals}; "
            "per engine, the sum of per-layer averages and, where timing exists, end-to-end percentiles, each "
            "with a label saying what it measures.", "cnnvis:models",
            body=obj(models_={"type": "array", "items": STR}, names={"type": "array", "items": STR}))},
        "/api/jobs": {
            "get": op("Jobs and their states.", "cnnvis:jobs"),
            "post": op("Start a job: kind 'explain' (overlays + maps) or 'dataset' (maps of every input), "
                        "a chunk of inputs at a time.", "cnnvis:jobs", ok="202",
                        body={**EXPLAIN_BODY, "properties": {**EXPLAIN_BODY["properties"], "kind": STR,
                                                             "model": STR, "chunk": INT},
                              "required": ["model"]}, too_many=True),
        },
        "/api/jobs/{job_id}": {
            "get": op("State (queued/running/done/failed/cancelled), progress, result and artifacts.",
                       "cnnvis:jobs", params=[JOB]),
            "delete": op("Cancel the job (it stops at its next check).", "cnnvis:jobs", params=[JOB]),
        },
        "/api/jobs/{job_id}/artifacts/{index}": {"get": op(
            "One artifact of a finished job (PNG or .npy).", "cnnvis:jobs", params=[JOB, INDEX],
            content=(PNG, NPY))},
        "/api/stream/scalars": {"get": op(
            "WebSocket: 'hello' with point counts, then 'points' messages with every new point, in order, "
            "once. from=start also sends the existing points.", "cnnvis:scalars",
            params=[LOGDIR, param("from", schema={"enum": ["end", "start"]})], websocket=True)},
        "/api/stream/jobs/{job_id}": {"get": op(
            "WebSocket: the job's snapshot on every change; closed once it has finished.", "cnnvis:jobs",
            params=[JOB], websocket=True)},
    }


# Each route module's paths; a new module adds its function here.
PATH_SOURCES = (core_paths, device_paths, browse_paths, compare_paths, attribution_paths)


def spec(server_url: str) -> dict:
    """The document; ``server_url`` is ``{base_url}cnnvis``, under which every path lies."""
    paths: dict = {}
    for source in PATH_SOURCES:
        paths.update(source())
    return {
        "openapi": "3.0.3",
        "info": {"title": "cnnvis", "version": __version__,
                 "description": "Jupyter server extension API. Every route needs Jupyter authentication "
                                "(token or cookie + _xsrf) and the named authorizer resource "
                                "(GET = read, others = write), except 'agent', which takes a device token."},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {"responses": {"Error": {
            "description": "Error with a message",
            "content": {JSON: {"schema": obj(message_=STR, reason=STR)}}}},
            "securitySchemes": {"deviceToken": {"type": "apiKey", "in": "header", "name": "X-Cnnvis-Device-Token"}}},
    }
