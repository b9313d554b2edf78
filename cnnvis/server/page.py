"""The full page at ``{base_url}cnnvis/``: a small HTML shell whose script lists runs and models.

The frontend bundle replaces the script later; the page's contract (authenticated, assets under
``{base_url}cnnvis/static/``, data only through the REST API) stays the same.
"""

import html

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import AuthenticatedFileHandler, JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from jupyter_server.utils import url_path_join
from tornado import web

PAGE_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>cnnvis</title>
<link rel="stylesheet" href="{static}server-page.css">
</head>
<body data-base-url="{base_url}">
<header><h1>cnnvis</h1><span id="version"></span></header>
<main>
<section>
<h2>Training runs</h2>
<form id="logdir-form"><input id="logdir" name="logdir" placeholder="logdir, relative to the server root"
 required> <button>Show runs</button></form>
<div id="runs"></div>
</section>
<section>
<h2>Models</h2>
<form id="model-form"><input id="model-path" name="path" placeholder="model file (.pt2, .pt, ...)" required>
 <input id="model-inputs" name="inputs" placeholder="inputs .npy (optional)"> <button>Open</button></form>
<div id="models"></div>
</section>
<p id="error" role="alert"></p>
</main>
<script src="{static}server-page.js"></script>
</body>
</html>
"""


class PageHandler(ExtensionHandlerMixin, JupyterHandler):
    """The full-page view at ``{base_url}cnnvis/`` (until the frontend bundle replaces it)."""

    auth_resource = "cnnvis:status"

    @web.authenticated
    @authorized
    def get(self) -> None:
        self.xsrf_token  # noqa: B018 -- sets the _xsrf cookie the page's POSTs send back
        static = html.escape(url_path_join(self.base_url, "cnnvis/static/"))
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(PAGE_TEMPLATE.format(base_url=html.escape(self.base_url), static=static))


class StaticHandler(ExtensionHandlerMixin, AuthenticatedFileHandler):
    """The page's assets, behind the same authentication as the API."""

    auth_resource = "cnnvis:status"

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        if "\x00" in absolute_path:  # os.path.realpath raises on NUL: answer 404, not 500
            raise web.HTTPError(404)
        return super().validate_absolute_path(root, absolute_path)
