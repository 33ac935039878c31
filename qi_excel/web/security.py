"""What keeps a local server a private one.

A page on 127.0.0.1 is reachable by every other program on the machine and, through DNS
rebinding, by web sites the organizer visits. So: a random session token (printed in the
address, then kept in an HttpOnly SameSite=Strict cookie), a Host header that must name this
server, a CSRF token on every state-changing POST, and no caching of pages with names in them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlencode

from flask import Flask, abort, g, redirect, request
from werkzeug.wrappers import Response

COOKIE = "qi_excel_token"  # + "_<port>": two pages on two ports do not overwrite each other's cookie
CSRF_FIELD = "csrf_token"
SAFE_METHODS = ("GET", "HEAD")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def csrf_token(token: str) -> str:
    """Derived from the session token: no server-side state, different from the cookie value."""
    return hmac.new(token.encode(), b"qi-excel csrf", hashlib.sha256).hexdigest()


def cookie_name(port: int | None) -> str:
    return f"{COOKIE}_{port}" if port else COOKIE


def allowed_hosts(port: int | None) -> set[str]:
    if port is None:
        return {"127.0.0.1", "localhost"}
    return {f"127.0.0.1:{port}", f"localhost:{port}"}


def install(app: Flask) -> None:
    """Register the checks that run before every request (static files included)."""

    @app.before_request
    def _guard() -> Response | None:
        token: str = app.config["QI_TOKEN"]
        host = (request.host or "").lower()
        if host not in allowed_hosts(app.config.get("QI_PORT")):
            abort(403, "请求的主机名不是本机地址，已拒绝（防止 DNS 重绑定）。")
        given = request.args.get("token")
        if given is not None and request.method in SAFE_METHODS:
            if not hmac.compare_digest(given.encode(), token.encode()):
                abort(403, "访问令牌不正确。请使用启动 qi-excel ui 时显示的地址。")
            # Keep the token out of the address bar, history and Referer: move it to a cookie.
            rest = {k: v for k, v in request.args.items(multi=True) if k != "token"}
            target = request.path + ("?" + urlencode(rest) if rest else "")
            response = redirect(target, code=303)
            response.set_cookie(cookie_name(app.config.get("QI_PORT")), token, httponly=True, samesite="Strict", path="/")
            return response
        cookie = request.cookies.get(cookie_name(app.config.get("QI_PORT")), "")
        if not hmac.compare_digest(cookie.encode(), token.encode()):
            abort(403, "没有访问令牌。请使用启动 qi-excel ui 时显示的完整地址（含 token）打开本页。")
        if request.method not in SAFE_METHODS:
            if request.method != "POST":
                abort(405)
            sent = request.form.get(CSRF_FIELD) or request.headers.get("X-CSRF-Token", "")
            if not hmac.compare_digest(sent.encode(), csrf_token(token).encode()):
                abort(403, "表单已过期或来源不明（CSRF 校验未通过），请刷新页面后重试。")
        g.csrf_token = csrf_token(token)
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        response.headers.setdefault("Cache-Control", "no-store")
        return response
