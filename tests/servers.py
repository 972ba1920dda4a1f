"""Real ``sieve serve`` servers for the tests, on ephemeral 127.0.0.1 ports: in a thread of this process, or as a
child process; and a small keep-alive HTTP client."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from app.serve.model_host import ServeOptions
from app.serve.server import SieveServer

REPO = Path(__file__).resolve().parents[1]
WAIT_S = 60  # upper bound for any wait on a server; reached only when something is broken


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self):  # noqa: ANN201
        return json.loads(self.body)


class Client:
    """A keep-alive HTTP/1.1 client for one server (one connection; not thread-safe: one per thread)."""

    def __init__(self, url: str, timeout: float = WAIT_S) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)

    def request(self, method: str, path: str, body: object = None, headers: dict | None = None) -> Reply:
        data = body if isinstance(body, bytes | type(None)) else json.dumps(body).encode()
        hdrs = {"content-type": "application/json"} if data is not None else {}
        hdrs.update(headers or {})
        self.conn.request(method, path, body=data, headers=hdrs)
        resp = self.conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())

    def predict(self, texts: list[str], **extra) -> Reply:  # noqa: ANN003
        return self.request("POST", "/predict", {"texts": texts, **extra})

    def close(self) -> None:
        self.conn.close()


def wait_until(condition, what: str, timeout: float = WAIT_S) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.005)


def metric(url: str, name: str) -> float | None:
    """The value of an unlabelled sample in the server's /metrics (None when absent)."""
    client = Client(url)
    try:
        text = client.request("GET", "/metrics").body.decode()
    finally:
        client.close()
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


@contextlib.contextmanager
def running_server(model: Path, *, load_model: bool = True, **options):  # noqa: ANN003
    """A :class:`SieveServer` on a free port in a thread of this process; stopped (drained) on exit."""
    opts = replace(ServeOptions(model=str(model), port=0, threads=1), **options)
    server = SieveServer(opts, load_model=load_model, say=lambda msg: None)
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(server.run()), daemon=True)
    thread.start()
    wait_until(lambda: server.started, "the server to listen")
    if load_model:
        wait_until(lambda: server.host.status in ("ready", "failed"), "the model to load")
    try:
        yield server
    finally:
        server.stop()
        thread.join(WAIT_S)
        assert not thread.is_alive() and codes == [0], codes


class ServerProcess:
    """``sieve serve`` in a child process; stderr collected on a thread."""

    def __init__(self, *args: str) -> None:
        code = "import sys; from app.cli import main; sys.exit(main())"
        self.proc = subprocess.Popen([sys.executable, "-c", code, "serve", "--port", "0", *args], cwd=REPO,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_until(lambda: self.url or self.proc.poll() is not None, "the server to listen")
        if self.proc.poll() is not None:
            self._reader.join(5)
        else:
            wait_until(lambda: any(" ready:" in line or "cannot serve" in line for line in self.lines)
                       or self.proc.poll() is not None, "the model to load")

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def url(self) -> str | None:
        for line in self.lines:
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                return found.group(1)
        return None

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(WAIT_S)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        return code

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)
