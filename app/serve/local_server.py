"""``sieve serve`` in a process of its own, on a free port, for the window: started, watched, measured, stopped.

Standard library only (subprocess, http.client), so the window can use it without loading the web stack.

Never left behind: the server runs with ``SIEVE_EXIT_WITH_PARENT=1`` and its standard input is a pipe that only
this process holds. However this process ends — closed, crashed, killed — the pipe closes and the server drains
and exits (see ``app.cli.serve.exit_with_parent``); a normal close also stops it with SIGTERM (:meth:`stop`), and
an ``atexit`` hook catches the rest.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..engine.errors import InputError

START_TIMEOUT_S = 120.0  # loading a big model on a busy machine; reached only when something is broken
STOP_TIMEOUT_S = 10.0  # SIGTERM lets it answer what it took; after this long it is killed
EXIT_WITH_PARENT_ENV = "SIEVE_EXIT_WITH_PARENT"  # see app.cli.serve.exit_with_parent
_LISTENING = re.compile(r"listening on (http://\S+)")
_running: weakref.WeakSet[LocalServer] = weakref.WeakSet()


def sieve_command() -> list[str]:
    """How to run the ``sieve`` command from here: the bundle's own executable, or this Python with ``-m app``."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "app"]


@dataclass(frozen=True)
class ServerSettings:
    """The ``sieve serve`` options the window can set and compare (the rest keep their defaults)."""

    model: str
    provider: str = "auto"
    threads: int = 0  # ONNX Runtime intra-op threads; 0 = one per physical core
    max_batch: int = 32
    max_wait_ms: float = 0.0

    def args(self) -> list[str]:
        return ["--model", self.model, "--provider", self.provider, "--threads", str(self.threads),
                "--max-batch", str(self.max_batch), "--max-wait-ms", f"{self.max_wait_ms:g}"]

    def command_line(self) -> str:
        """The ``sieve serve`` command that starts this server (to copy into a shell)."""
        return shlex.join(["sieve", "serve", *self.args()])

    def describe(self) -> str:
        threads = "threads auto" if self.threads == 0 else f"threads {self.threads}"
        provider = "" if self.provider == "auto" else f"{self.provider}, "
        return f"{provider}{threads}, max batch {self.max_batch}, max wait {self.max_wait_ms:g} ms"


def rss_mb(pid: int) -> tuple[float, float] | None:
    """(resident memory now, peak) of a process in MB, from /proc (Linux); None elsewhere or once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = {k: float(v) / 1024 for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.MULTILINE)}
    return (found["VmRSS"], found.get("VmHWM", found["VmRSS"])) if "VmRSS" in found else None


def first_200(url: str, deadline: float, alive: Callable[[], bool], stop: threading.Event | None = None) -> bool:
    """Poll ``POST url/predict`` with one short text until it answers 200 (True), the deadline passes, the process
    dies or ``stop`` is set (False)."""
    host, _, port = url.removeprefix("http://").rpartition(":")
    while time.monotonic() < deadline and alive() and not (stop is not None and stop.is_set()):
        conn = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=10)
        try:
            conn.request("POST", "/predict", body=b'{"texts": ["hello there"]}',
                         headers={"content-type": "application/json"})
            if conn.getresponse().status == 200:
                return True
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.02)
    return False


class LocalServer:
    """One ``sieve serve`` child process. :meth:`start` blocks until it answers (call it off the GUI thread).

    ``on_line`` receives every line the server logs (on a reader thread), ``on_exit`` its exit code if it ends by
    itself (not through :meth:`stop`).
    """

    def __init__(self, settings: ServerSettings, on_line: Callable[[str], None] | None = None,
                 on_exit: Callable[[int], None] | None = None) -> None:
        self.settings = settings
        self.on_line = on_line or (lambda line: None)
        self.on_exit = on_exit or (lambda code: None)
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None
        self.cold_start_s: float | None = None  # launch → first 200 from /predict
        self.lines: list[str] = []
        self._stopping = False
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def exit_code(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    def start(self, stop: threading.Event | None = None, timeout_s: float = START_TIMEOUT_S) -> LocalServer:
        """Launch on a free 127.0.0.1 port and wait for the first 200; a sentence (InputError) if it fails."""
        cmd = [*sieve_command(), "serve", "--port", "0", *self.settings.args()]
        self.on_line("$ " + shlex.join(["sieve", "serve", "--port", "0", *self.settings.args()]))
        env = {**os.environ, EXIT_WITH_PARENT_ENV: "1", "PYTHONUNBUFFERED": "1"}
        env.pop("SIEVE_API_KEY", None)  # the window's server takes no key
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=env, text=True, errors="replace")
        _running.add(self)
        self._reader = threading.Thread(target=self._read, name="sieve-serve-log", daemon=True)
        self._reader.start()
        deadline = t0 + timeout_s
        while self.url is None and self.alive and time.monotonic() < deadline and not (stop and stop.is_set()):
            time.sleep(0.01)
        if self.url is not None and first_200(self.url, deadline, lambda: self.alive, stop):
            self.cold_start_s = time.monotonic() - t0
            return self
        cancelled = stop is not None and stop.is_set()
        self.stop()
        if cancelled:
            raise InputError("Starting the local server was cancelled")
        why = next((x.split("cannot serve: ", 1)[1] for x in reversed(self.lines) if "cannot serve: " in x), None)
        if why is None:
            why = next((x for x in reversed(self.lines) if x.strip() and not x.startswith("$")), None)
        if why is None:
            why = f"it did not answer within {timeout_s:g} s"
        raise InputError(f"The local server did not start: {why.rstrip('.')}", "Its log below shows what it said")

    def _read(self) -> None:
        proc = self.proc
        assert proc is not None and proc.stderr is not None
        for raw in proc.stderr:
            line = raw.rstrip("\n").removeprefix("sieve serve: ")
            self.lines.append(line)
            if self.url is None:
                found = _LISTENING.search(line)
                if found:
                    self.url = found.group(1)
            self.on_line(line)
        code = proc.wait()
        self.on_line(f"(the server exited with code {code})")
        if not self._stopping:
            self.on_exit(code)

    def rss_mb(self) -> tuple[float, float] | None:
        return rss_mb(self.proc.pid) if self.alive else None

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM (it answers what it took, then exits), then SIGKILL after ``timeout_s``; returns the exit code."""
        proc = self.proc
        if proc is None:
            return None
        self._stopping = True
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(2)
        _running.discard(self)
        return proc.returncode


class LocalServers:
    """The window's local server: at most one at a time (on a small machine two would measure each other).

    :meth:`ensure` reuses the running one when its settings match, else replaces it. Thread-safe; :meth:`stop`
    may be called from any thread, also while another thread is in :meth:`ensure` (that start is then cancelled).
    """

    def __init__(self, on_line: Callable[[str], None] | None = None,
                 on_exit: Callable[[LocalServer, int], None] | None = None) -> None:
        self.on_line = on_line or (lambda line: None)
        self.on_exit = on_exit or (lambda server, code: None)
        self.current: LocalServer | None = None
        self.closed = False
        self._lock = threading.Lock()
        self._cancel = threading.Event()

    def ensure(self, settings: ServerSettings) -> LocalServer:
        with self._lock:
            if self.closed:
                raise InputError("The window is closing; no server is started")
            server = self.current
            if server is not None and server.alive and server.settings == settings:
                return server
            if server is not None:
                server.stop()
            self._cancel.clear()
            server = LocalServer(settings, self.on_line)
            server.on_exit = lambda code, s=server: self.on_exit(s, code)
            self.current = server
        server.start(self._cancel)
        return server

    def cancel_start(self) -> None:
        """A start in progress gives up (the server it was starting is stopped); a running server stays."""
        self._cancel.set()

    def stop(self) -> None:
        self._cancel.set()
        with self._lock:
            server, self.current = self.current, None
        if server is not None:
            server.stop()

    def close(self) -> None:
        """Stop the server and start no other (the window is closing)."""
        with self._lock:
            self.closed = True
        self.stop()


@atexit.register
def _stop_all() -> None:  # a window that never got to close properly (an exception on the way out)
    for server in list(_running):
        if server.alive:
            with contextlib.suppress(OSError):
                server.proc.kill()
