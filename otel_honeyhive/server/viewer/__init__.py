"""The read-only web viewer `serve` shows at `/` over the local store: sessions, each session's timeline, each
event's detail (docs/viewer.md). Imported by the server only; Jinja2 templates and static files ship in the
package (package-data), nothing is fetched from elsewhere."""

from otel_honeyhive.server.viewer.auth import ICON_PATH, LOGIN_PATH, STATIC_PREFIX, ViewerCookie, is_viewer_path
from otel_honeyhive.server.viewer.routes import forbidden, refusal, viewer_routes

__all__ = ["ICON_PATH", "LOGIN_PATH", "STATIC_PREFIX", "ViewerCookie", "forbidden", "is_viewer_path", "refusal",
           "viewer_routes"]
