"""What every HTTP answer carries for the browser's sake, and when cookies are Secure.

- `Content-Security-Policy`: scripts, styles and everything else only from this origin; an inline
  `<script>` or `<style>` runs only with the page's nonce (`csp_nonce()` in a template, new for
  every page); no plugins, no `<base>`, forms post only here, no other site may frame a page.
  `X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff` and `Referrer-Policy` beside it.
- Cookies are Secure when the request came over HTTPS, or always with `[security] secure_cookies`.
  "Over HTTPS" is the WSGI scheme: the server's own, or with `[security] trusted_proxies` the one
  the trusted proxy reported in X-Forwarded-Proto (ProxyFix; gunicorn's own reading of that header
  is switched off in gunicorn_conf.py, so a client cannot claim it).

`cookies_secure()` is the one decision; the session cookie asks it when Flask saves the session,
and `finish()` applies it to every other cookie of the answer (the admin's JWT cookies, the
language cookie), whoever set it. Never reads a forwarded header itself.
"""
from __future__ import annotations

import secrets

from flask import Flask, Response, g, request
from flask.sessions import SecureCookieSessionInterface

from .context import current_runtime

POLICY = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
REFERRER_POLICY = "same-origin"      # the admin page sends a failed form back to the page it came from
# For answers that carry no page (the webhook route answers before Flask): no nonce to allow.
HEADERS: tuple[tuple[str, str], ...] = (("Content-Security-Policy", POLICY), ("X-Frame-Options", "DENY"),
                                        ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", REFERRER_POLICY))


def csp_nonce() -> str:
    """This page's nonce for its inline <script> and <style> (made on first use, once per request)."""
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(18)
    return nonce


def cookies_secure() -> bool:
    """Whether this request's cookies must be Secure (see the module docstring)."""
    return request.is_secure or current_runtime().settings.security.secure_cookies


def finish(response: Response) -> Response:
    """after_request, run last: the headers, and Secure on every cookie set so far when it should be."""
    headers = response.headers
    for name, value in HEADERS:
        headers[name] = value
    nonce = g.get("csp_nonce")
    if nonce is not None:
        headers["Content-Security-Policy"] = f"{POLICY}; script-src 'self' 'nonce-{nonce}'; " \
                                             f"style-src 'self' 'nonce-{nonce}'"
    cookies = headers.getlist("Set-Cookie")
    if cookies and cookies_secure():
        headers.setlist("Set-Cookie", [c if _is_secure(c) else f"{c}; Secure" for c in cookies])
    return response


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, Secure per request. Flask saves it after every after_request
    function has run, so it asks the same decision itself."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return cookies_secure()


def _is_secure(cookie: str) -> bool:
    return any(part.strip().lower() == "secure" for part in cookie.split(";")[1:])
