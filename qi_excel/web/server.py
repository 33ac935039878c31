"""Serving the page with waitress on 127.0.0.1 (a production server that runs on Windows too)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .app import create_app
from .security import new_token

HOST = "127.0.0.1"  # never another interface: the page is for the person at this computer
THREADS = 4


def make_server(workspace: str | Path, port: int = 0, token: str | None = None) -> tuple[Any, str]:
    """A waitress server for ``workspace`` and the address to open (with its token)."""
    from waitress import create_server

    token = token or new_token()
    app = create_app(workspace, token=token)
    server = create_server(app, host=HOST, port=port, threads=THREADS, ident="qi-excel",
                           max_request_body_size=app.config["MAX_CONTENT_LENGTH"] + 1024 * 1024)
    app.config["QI_PORT"] = server.effective_port
    app.config["SESSION_COOKIE_NAME"] = f"qi_excel_session_{server.effective_port}"
    return server, f"http://{HOST}:{server.effective_port}/?token={token}"


def serve(workspace: str | Path, port: int = 0, *, on_ready: Callable[[str], None] | None = None) -> None:
    """Run until Ctrl+C."""
    server, url = make_server(workspace, port)
    if on_ready is not None:
        on_ready(url)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
