"""The full page at ``{base_url}cnnvis/``: the panel application (the JupyterLab sidebar's) on
its own page, for ``jupyter cnnvis``, remote attach and VS Code's browser. No separate port: the
page, its assets under ``{base_url}cnnvis/static/`` and the API share the Jupyter server and its login.
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
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>CNN Vis</title>
<link rel="stylesheet" href="{static}page.css">
</head>
<body data-base-url="{base_url}">
<div id="cnnvis-root"><noscript>CNN Vis needs JavaScript.</noscript></div>
<script type="module" src="{static}page.js"></script>
</body>
</html>
"""

# The page loads only its own assets and talks only to this server (the API and kernel websockets).
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
            "connect-src 'self' ws: wss:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'self'")


class PageHandler(ExtensionHandlerMixin, JupyterHandler):
    """The full-page panel at ``{base_url}cnnvis/``."""

    auth_resource = "cnnvis:status"

    @web.authenticated
    @authorized
    def get(self) -> None:
        self.xsrf_token  # noqa: B018 -- sets the _xsrf cookie the page's POSTs send back
        static = html.escape(url_path_join(self.base_url, "cnnvis/static/"))
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Content-Security-Policy", PAGE_CSP)
        self.finish(PAGE_TEMPLATE.format(base_url=html.escape(self.base_url), static=static))


class StaticHandler(ExtensionHandlerMixin, AuthenticatedFileHandler):
    """The page's assets, behind the same authentication as the API."""

    auth_resource = "cnnvis:status"

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        if "\x00" in absolute_path:  # os.path.realpath raises on NUL: answer 404, not 500
            raise web.HTTPError(404)
        return super().validate_absolute_path(root, absolute_path)
