"""web_sample/ in headless Chromium for the tests: a static server (python's
http.server, nothing else) over a temporary root that links the page, the
bundles and the media under one origin, and Debian's Chromium driven by
Playwright (its own browser download is never used)."""

from __future__ import annotations

import functools
import http.server
import shutil
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from web_core import WEB

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",  # containers give /dev/shm 64 MB
                 # the live path is checked with Chromium's fake camera and microphone, granted without a prompt
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--autoplay-policy=no-user-gesture-required"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextmanager
def serve(links: dict[str, Path]):
    """http://127.0.0.1:PORT/ with /web -> web_sample/ and /<name> -> each path in links."""
    root = Path(tempfile.mkdtemp(prefix="avsep-web-"))
    try:
        (root / "web").symlink_to(WEB, target_is_directory=True)
        for name, path in links.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).symlink_to(Path(path).resolve(), target_is_directory=Path(path).is_dir())
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def missing() -> list[str]:
    out = [] if Path(CHROMIUM).is_file() else [f"{CHROMIUM} (Debian: apt-get install chromium)"]
    try:
        import playwright  # noqa: F401
    except ImportError:
        out.append("playwright (pip install playwright==1.65.3; no `playwright install`)")
    if not (WEB / "node_modules" / "@litertjs" / "core" / "package.json").is_file():
        out.append("web_sample/node_modules/@litertjs/core (npm ci --prefix web_sample)")
    return out


@contextmanager
def page(base_url: str):
    """A fresh headless Chromium (its own user-data dir) with web_sample/index.html loaded; page errors are raised."""
    from playwright.sync_api import sync_playwright

    profile = Path(tempfile.mkdtemp(prefix="avsep-chromium-"))
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                pg = ctx.new_page()
                errors: list[str] = []
                pg.on("pageerror", lambda e: errors.append(str(e)))
                pg.goto(f"{base_url}/web/index.html")
                pg.wait_for_function("window.avsepReady === true", timeout=60_000)
                pg.errors = errors
                yield pg
            finally:
                ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
