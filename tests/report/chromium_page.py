"""A page in Debian's headless Chromium, driven over the DevTools protocol through a pipe.

    with ChromiumPage(chromium, profile_dir) as page:
        page.open(path.as_uri() + "#view=prompts")
        page.wait("document.body.dataset.ready === '1'")
        page.js("document.querySelector('th').click()")
        page.requests          # every URL the page asked for (Network.requestWillBeSent)

Why a pipe (--remote-debugging-pipe) and not a port or Playwright: no listening socket and no
extra package; the protocol is JSON messages ended by NUL bytes on fds 3 (to Chromium) and
4 (from Chromium). The page's requests, uncaught exceptions and console errors are recorded
so that tests can assert the page stayed offline and quiet.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import threading
import time

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
         "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
         "--disable-extensions", "--mute-audio", "--hide-scrollbars"]


def find_chromium() -> str:
    """Debian's `chromium`; without it the calling test skips, or fails under HARNESS_REQUIRE_CHROMIUM=1
    (CI sets it, and installs the browser: a browser test there cannot pass by skipping)."""
    import pytest

    found = shutil.which("chromium")
    if not found:
        required = os.environ.get("HARNESS_REQUIRE_CHROMIUM") == "1"
        (pytest.fail if required else pytest.skip)("chromium not on PATH (apt-get install chromium)"
                                                   + (", and HARNESS_REQUIRE_CHROMIUM=1 forbids skipping" if required else ""))
    return found


class ChromiumPage:
    def __init__(self, chromium: str, profile, *, width: int = 1400, height: int = 1000):
        to_child, self._out = os.pipe()  # we write -> Chromium reads fd 3
        self._in, from_child = os.pipe()  # Chromium writes fd 4 -> we read

        def wire():  # in the child: move the two ends to fds 3 and 4, via fds that cannot clash with them
            a, b = fcntl.fcntl(to_child, fcntl.F_DUPFD, 100), fcntl.fcntl(from_child, fcntl.F_DUPFD, 100)
            os.dup2(a, 3)
            os.dup2(b, 4)
            os.close(a)
            os.close(b)

        os.makedirs(profile, exist_ok=True)
        self.log = os.path.join(profile, "chromium.log")  # Chromium's own messages, for a failing test
        with open(self.log, "wb") as log:
            # close_fds=False: fds 3 and 4 must reach Chromium; ours are close-on-exec (os.pipe) and do not
            self.proc = subprocess.Popen([chromium, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
                                          "about:blank"], preexec_fn=wire, close_fds=False,
                                         stdout=subprocess.DEVNULL, stderr=log)
        os.close(to_child)
        os.close(from_child)
        self._id = 0
        self._replies: dict[int, queue.Queue] = {}
        self._lock = threading.Lock()
        self.requests: list[str] = []
        self.errors: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": False})

    # ---------------------------------------------------------------- protocol
    def _read(self):
        buf = b""
        while chunk := os.read(self._in, 1 << 16):
            buf += chunk
            *messages, buf = buf.split(b"\0")
            for raw in messages:
                self._dispatch(json.loads(raw))

    def _dispatch(self, msg: dict):
        if "id" in msg:
            with self._lock:
                q = self._replies.get(msg["id"])
            if q is not None:
                q.put(msg)
            return
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Runtime.exceptionThrown":
            d = params["exceptionDetails"]
            self.errors.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            self.errors.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            self.errors.append(f"log: {params['entry'].get('text')}")

    def _call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60):
        with self._lock:
            self._id += 1
            ident = self._id
            self._replies[ident] = q = queue.Queue()
        msg = {"id": ident, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        try:
            reply = q.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"{method}: no reply in {timeout} s") from None
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def call(self, method: str, params: dict | None = None, timeout: float = 60):
        return self._call(method, params, self.session, timeout)

    # ---------------------------------------------------------------- page
    def open(self, url: str):
        self.call("Page.navigate", {"url": url})

    def js(self, expression: str, timeout: float = 60):
        """The value of a JavaScript expression in the page (promises awaited)."""
        out = self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True},
                        timeout=timeout)
        if "exceptionDetails" in out:
            raise RuntimeError(f"{expression}: {out['exceptionDetails'].get('exception', {}).get('description')}")
        return out["result"].get("value")

    def wait(self, expression: str, timeout: float = 30.0) -> None:
        """Wait until `expression` is truthy in the page (a DOM node counts: JavaScript's truthiness)."""
        end = time.monotonic() + timeout
        while True:
            try:
                value = self.js(f"Boolean({expression})")
            except RuntimeError:  # the page is between documents
                value = None
            if value:
                return
            if time.monotonic() > end:
                raise TimeoutError(f"not true after {timeout} s: {expression}; page errors: {self.errors}")
            time.sleep(0.02)

    def screenshot(self, path, *, full: bool = False):
        params = {"format": "png"}
        if full:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": size["width"],
                                                           "height": size["height"], "scale": 1})
        data = self.call("Page.captureScreenshot", params)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self._call("Browser.close", timeout=10)
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._out, self._in):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
