"""The Flask side: configuration, blueprints, and one error handler that never leaks a traceback."""
from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from flask import Flask, redirect, request, send_from_directory
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from . import security
from ..admin.blueprint import bp as admin_bp
from ..api.blueprint import attach_resources
from ..auth.login_guard import LoginGuard
from ..gateway.views import WebhookRoute
from ..gateway.views import bp as gateway_bp
from ..httputil import TOO_DEEP
from ..mcp.server_blueprint import bp as mcp_bp
from ..ops.access import OpsAccess
from ..ops.blueprint import bp as ops_bp
from ..telemetry.request_tracking import RequestTracking
from ..runtime import Runtime
from .context import json_error
from ..webchat.blueprint import bp as webchat_bp
from .session import init_jwt

log = logging.getLogger(__name__)
# Templates and static files live at the package's top, beside the faces that render them.
PACKAGE = Path(__file__).resolve().parent.parent


class _NoSessionOnWebhooks(security.SessionInterface):
    """Webhooks never read the cookie session: skip deriving its signer on every platform request."""

    def open_session(self, app: Flask, request):  # noqa: ANN001, ANN201 -- Flask's signature
        if request.path.startswith("/webhooks/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def build_flask_app(runtime: Runtime) -> Flask:
    settings = runtime.settings
    app = Flask(__name__, root_path=str(PACKAGE), template_folder="templates", static_folder="static")
    app.session_interface = _NoSessionOnWebhooks()
    # Secure is decided per request (HTTPS, or [security] secure_cookies): web_security.py.
    secure = settings.security.secure_cookies
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        JWT_SECRET_KEY=settings.secret_key,
        JWT_TOKEN_LOCATION=["headers", "cookies"],
        JWT_COOKIE_SECURE=secure,
        JWT_COOKIE_SAMESITE="Strict",
        JWT_COOKIE_CSRF_PROTECT=True,
        JWT_CSRF_CHECK_FORM=True,
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(minutes=30),
        JWT_REFRESH_TOKEN_EXPIRES=timedelta(days=7),
        JSON_AS_ASCII=False,
    )
    app.extensions["smartbot"] = runtime
    app.extensions["smartbot_login_guard"] = LoginGuard()
    app.extensions["smartbot_ops_access"] = OpsAccess(settings.ops)
    app.extensions["smartbot_refusals"] = runtime.ingest.refusals
    app.after_request(security.finish)      # registered first, so it runs after every other one
    app.jinja_env.globals["csp_nonce"] = security.csp_nonce
    if settings.server.fast_webhook_route:
        app.wsgi_app = WebhookRoute(app.wsgi_app, runtime)  # type: ignore[method-assign]
    proxies = settings.security.trusted_proxies
    if proxies:
        # Behind nginx the peer is the proxy: take the client's address and scheme from the
        # X-Forwarded-* headers, trusting only as many hops as there are proxies we run.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]
    init_jwt(app, runtime)
    app.register_blueprint(gateway_bp)
    app.register_blueprint(ops_bp)
    app.wsgi_app = RequestTracking(app.wsgi_app)  # type: ignore[method-assign]
    app.register_blueprint(admin_bp)
    app.register_blueprint(attach_resources())
    if settings.webchat.enabled:
        app.register_blueprint(webchat_bp)
    app.register_blueprint(mcp_bp)         # answers 404 with the reason unless [mcp] serve = true
    _add_front_door(app)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if exc.code == 413:
            return json_error(413, f"body larger than {settings.max_body_bytes} bytes")
        if _wants_html():
            return exc
        return json_error(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(RecursionError)
    def _too_deep(exc: RecursionError):
        # The last line of defence: request bodies are depth-checked before parsing (httputil.load_json).
        log.warning("refused %s %s: nested too deeply to handle", request.method, request.path)
        return json_error(400, TOO_DEEP)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal error; the details are in the server log")

    return app


def _add_front_door(app: Flask) -> None:
    """`/` leads to the web chat (the admin page when the chat is off), and the icon every page
    links, at the address browsers ask for by themselves."""

    @app.get("/")
    def front_door():
        return redirect("/chat" if "webchat" in app.blueprints else "/admin/")

    @app.get("/favicon.ico")
    def favicon():
        return send_from_directory(app.static_folder or "", "favicon.svg", mimetype="image/svg+xml", max_age=86400)


def _wants_html() -> bool:
    return request.path.startswith(("/admin", "/chat")) and "text/html" in request.headers.get("Accept", "")
