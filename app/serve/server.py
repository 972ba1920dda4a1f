"""``sieve serve``: binds the socket, loads the model on a thread, runs uvicorn, drains on SIGTERM/SIGINT.

uvicorn runs on uvloop with the httptools parser where they are installed. On SIGTERM or SIGINT ``/ready`` turns
503 at once, the listening socket closes, every request already taken is answered, the batcher finishes and
the process exits 0 (uvicorn itself would re-raise the signal after its shutdown). A second SIGINT stops at once.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType

import uvicorn

from ..engine.errors import InputError
from .app import create_app
from .metrics import ServeMetrics
from .model_host import ModelHost, ServeOptions

EXIT_OK, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 2, 130


class _DrainingServer(uvicorn.Server):
    """uvicorn's server, but a signal first marks the model host as draining and is not re-raised at exit."""

    def __init__(self, config: uvicorn.Config, host: ModelHost) -> None:
        super().__init__(config)
        self.host = host

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.host.drain()
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0 picks a free one); a sentence if that is not possible."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise InputError(f"Cannot listen on {host}:{port} ({exc.strerror or exc})",
                         "Choose another --port (or --host), or stop the program that uses it") from None
    return sock


class SieveServer:
    """The whole server — model host, metrics, HTTP app, uvicorn — on a socket bound at construction.

    :meth:`run` blocks until the server stops and returns the exit code; on the main thread it handles SIGTERM and
    SIGINT. :meth:`stop` asks it to drain and stop from any thread. With ``load_model=False`` the model is not
    loaded until the caller runs ``server.host.load()`` (until then ``/ready`` and ``/predict`` answer 503).
    """

    def __init__(self, options: ServeOptions, *, load_model: bool = True,
                 say: Callable[[str], None] | None = None) -> None:
        self.options = options
        self.say = say or (lambda msg: print(f"sieve serve: {msg}", file=sys.stderr, flush=True))
        self.socket = bind(options.host, options.port)
        address = self.socket.getsockname()
        self.url = f"http://{f'[{address[0]}]' if ':' in address[0] else address[0]}:{address[1]}"
        self.metrics = ServeMetrics(self._live)
        self.host = ModelHost(options, on_batch=self.metrics.observe_batch)
        self._load_model = load_model
        app = create_app(self.host, self.metrics, on_startup=self._startup, on_shutdown=self._shutdown)
        config = uvicorn.Config(app, loop="auto", http="auto", ws="none", lifespan="on", log_level="warning",
                                access_log=False, server_header=False, timeout_graceful_shutdown=None)
        self._server = _DrainingServer(config, self.host)

    def _live(self):  # noqa: ANN202 - (stats recorder, batcher) once loaded, for /metrics
        host = self.host
        return (host.classifier.stats, host.batcher) if host.batcher is not None else None

    async def _startup(self) -> None:
        if not self._load_model:
            return
        loading = asyncio.get_running_loop().run_in_executor(None, self.host.load)
        loading.add_done_callback(lambda _: self._loaded())

    def _loaded(self) -> None:
        host = self.host
        if host.status == "failed":
            self.say(f"cannot serve: {host.error}")
            self._server.should_exit = True
        elif host.batcher is not None:
            card = host.card
            self.say(f"ready: {card['name']} ({len(card['labels'])} labels) on {card['device']}, "
                     f"loaded in {host.load_seconds:.2f} s")
            for note in card.get("notes", ()):
                self.say(f"note: {note}")

    async def _shutdown(self) -> None:
        self.host.drain()
        await asyncio.get_running_loop().run_in_executor(None, self.host.close)

    def run(self) -> int:
        """Serve until stopped; the exit code: 0 drained, 2 the model could not be loaded, 130 forced to stop."""
        self.say(f"listening on {self.url} (loading {self.host.model_path})")
        self._server.run(sockets=[self.socket])
        host = self.host
        if host.status == "failed":
            return EXIT_BAD_INPUT
        if self._server.force_exit:
            self.say(f"stopped at once: {host.accepted - host.answered} requests taken were not answered")
            return EXIT_INTERRUPTED
        self.say(f"stopped: answered {host.answered} of {host.accepted} requests taken")
        return EXIT_OK

    def stop(self) -> None:
        """Drain and stop (thread-safe), as SIGTERM does."""
        self.host.drain()
        self._server.should_exit = True

    @property
    def started(self) -> bool:
        """True once the server listens and answers."""
        return self._server.started


def serve(options: ServeOptions) -> int:
    """``sieve serve``: run a server until SIGTERM/SIGINT; returns the exit code."""
    return SieveServer(options).run()
