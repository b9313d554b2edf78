"""The server's own routing table, so tests cover every cnnvis route (a new one cannot skip them)."""

import re

from tornado.websocket import WebSocketHandler

GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


def cnnvis_routes(web_app):
    """``(pattern, handler class)`` for each route whose pattern contains ``/cnnvis/``."""
    found = []

    def walk(router):
        for rule in getattr(router, "rules", []):
            target = rule.target
            if hasattr(target, "rules"):
                walk(target)
                continue
            pattern = getattr(rule.matcher, "regex", None)
            if pattern is not None and "/cnnvis/" in pattern.pattern.replace("cnnvis/?", "cnnvis/"):
                found.append((pattern.pattern, target))

    walk(web_app.default_router)
    walk(web_app.wildcard_router)
    unique = {p: t for p, t in found}
    return sorted(unique.items())


def template(pattern, base_url):
    """``/base/cnnvis/api/models/(?P<model_id>...)/graph$`` -> ``/api/models/{model_id}/graph``."""
    path = GROUP.sub(lambda m: "{" + m.group(1) + "}", pattern).rstrip("$")
    path = path.replace("cnnvis/?", "cnnvis/")
    prefix = base_url.rstrip("/") + "/cnnvis"
    assert path.startswith(prefix), (path, prefix)
    return path[len(prefix):] or "/"


def example_url(pattern, base_url):
    """A concrete URL path (relative to base_url) for a route pattern."""
    path = template(pattern, base_url)
    return "cnnvis" + re.sub(r"\{(\w+)\}", lambda m: "0" if m.group(1) == "index" else "abc123", path)


def methods(handler):
    if issubclass(handler, WebSocketHandler):
        return ["WS"]
    from tornado.web import RequestHandler

    return [m for m in ("GET", "POST", "DELETE", "PUT", "PATCH")
            if getattr(handler, m.lower()) is not getattr(RequestHandler, m.lower())]
