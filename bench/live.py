"""Driving a station from outside, as a person or a client program would: an in-process
client's login and field card, uvicorn on 127.0.0.1 in a thread, headless Chromium's path.
Used by the station's benchmarks (bench/station.py, bench/load.py), the screenshots
(bench/screenshot.py) and the tests.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from html import unescape

from samples.readings import PASSWORD

# ----------------------------------------------------------------------- in-process client

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
HIDDEN_INPUT = re.compile(r'<input type="hidden" name="(file_no|field|version)" value="([^"]*)">')
VALUE_INPUT = re.compile(r'<input id="value" name="value" class="value" value="([^"]*)"')


def login_csrf(client, name: str, password: str = PASSWORD) -> str:
    """Log an in-process client in as `name`; return the session's CSRF token."""
    token = CSRF_INPUT.search(client.get("/login").text).group(1)
    r = client.post("/login", data={"username": name, "password": password, "csrf_token": token, "next": "/queue"},
                    follow_redirects=False)
    if r.status_code != 303:
        raise RuntimeError(f"login of {name} failed: HTTP {r.status_code}")
    return CSRF_INPUT.search(client.get("/queue").text).group(1)


def current_card(html: str) -> dict:
    """The form fields of the field card in a page or fragment: what Enter would post."""
    fields = dict(HIDDEN_INPUT.findall(html))
    value = VALUE_INPUT.search(html)
    fields["value"] = unescape(value.group(1)) if value else ""
    return fields


# -------------------------------------------------------------------------- live server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving an app on 127.0.0.1 in a thread, for a real browser or HTTP client."""

    def __init__(self, app, *, port: int | None = None):
        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"uvicorn did not start on {self.url}")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
