"""The Serve tab's owner: the local ``sieve serve`` process and the latency inspections run against servers.

No widgets here, like :class:`~app.ui.controller.RunController` (which creates this and tracks its worker threads).
Starting and stopping the server and every load run happen on workers; the record of the current run
(``app.serve.inspection_record``) is updated here, on the GUI thread, one event at a time, and the panel draws it.
Nothing from the web stack is imported: the load generator runs in a child process (``sieve loadgen --events``).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:
    from ..serve.inspection import InspectionPlan
    from ..serve.inspection_record import InspectionRecord
    from ..serve.local_server import LocalServer, LocalServers, ServerSettings
    from .controller import RunController
    from .workers import BackgroundCall, InspectionWorker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerStatus:
    """The local server as the tab shows it."""

    state: str  # starting | running | stopping | stopped | exited | failed
    settings: ServerSettings | None = None
    url: str | None = None
    pid: int | None = None
    cold_start_s: float | None = None
    exit_code: int | None = None
    message: str | None = None

    @property
    def running(self) -> bool:
        return self.state == "running"

    def text(self) -> str:
        if self.state == "running":
            return (f"Listening on {self.url} (pid {self.pid}), answered {self.cold_start_s:.1f} s after launch"
                    if self.cold_start_s is not None else f"Listening on {self.url}")
        if self.state == "starting":
            return "Starting sieve serve…"
        if self.state == "stopping":
            return "Stopping…"
        if self.state == "exited":
            return f"The local server exited by itself (code {self.exit_code}); its log says why."
        if self.state == "failed":
            return self.message or "The local server did not start."
        return "Not running."


class ServeController(QObject):
    server_changed = Signal(object)  # ServerStatus
    server_log = Signal(str)  # one line the server wrote (or the command that started it)
    run_started = Signal(object)  # InspectionRecord (its plan holds the texts)
    run_changed = Signal(object)  # the event just applied to the record
    run_finished = Signal(object)  # InspectionRecord
    busy_changed = Signal(bool)
    message = Signal(str)
    error = Signal(str, str)  # title, sentence
    _server_exited = Signal(object, int)  # from the log reader thread

    def __init__(self, owner: RunController) -> None:
        super().__init__(owner)
        self.owner = owner
        self.record: InspectionRecord | None = None
        self.status = ServerStatus("stopped")
        self.load_in = "process"  # or "thread": benchmarks/serve_tab.py measures the window with both
        self._servers: LocalServers | None = None
        self._runner: InspectionWorker | None = None
        self._server_job: BackgroundCall | None = None
        self._server_exited.connect(self._exited)

    # ------------------------------------------------------------------ state
    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def servers(self) -> LocalServers:
        if self._servers is None:
            from ..serve.local_server import LocalServers

            self._servers = LocalServers(on_line=self._log_line, on_exit=self._on_exit)
        return self._servers

    @property
    def server(self) -> LocalServer | None:
        return self._servers.current if self._servers is not None else None

    def _log_line(self, line: str) -> None:  # on a reader thread
        with contextlib.suppress(RuntimeError):  # the window is gone
            self.server_log.emit(line)

    def _on_exit(self, server: LocalServer, code: int) -> None:  # on a reader thread
        with contextlib.suppress(RuntimeError):
            self._server_exited.emit(server, code)

    def _exited(self, server: LocalServer, code: int) -> None:
        if server is not self.server:
            return
        self._set_status(ServerStatus("exited", server.settings, server.url, server.pid, server.cold_start_s, code))
        if not self.running:
            self.error.emit("The local server stopped", f"The local server exited by itself (code {code}). Its log "
                            "in the Serve tab says why; start it again when ready.")

    def _set_status(self, status: ServerStatus) -> None:
        self.status = status
        self.server_changed.emit(status)

    # ------------------------------------------------------------------ the local server
    def start_server(self, settings: ServerSettings) -> None:
        """Start (or restart with new settings) the local server, off the GUI thread."""
        if self.owner.closed or self._server_job is not None or self.running:
            return
        from .workers import BackgroundCall, start

        servers = self.servers
        job = BackgroundCall(lambda: servers.ensure(settings))
        job.done.connect(self._server_started)
        job.failed.connect(self._server_failed)
        job.finished.connect(self._server_job_done)
        self._server_job = job
        self._set_status(ServerStatus("starting", settings))
        self.owner._track(start(job, "sieve-serve-start"))

    def _server_started(self, server: LocalServer) -> None:
        # the job is over once it has answered: a Run clicked before its thread has wound down must not be refused
        self._server_job = None
        self._set_status(ServerStatus("running", server.settings, server.url, server.pid, server.cold_start_s))
        self.message.emit(f"sieve serve is listening on {server.url}.")

    def _server_failed(self, message: str) -> None:
        self._server_job = None
        self._set_status(ServerStatus("failed", self.status.settings, message=message))

    def _server_job_done(self) -> None:
        if self._server_job is self.sender():  # not a later job started once this one had answered
            self._server_job = None

    def stop_server(self) -> None:
        if self._servers is None or self._server_job is not None or self.running:
            return
        from .workers import BackgroundCall, start

        servers = self._servers
        job = BackgroundCall(servers.stop)
        job.finished.connect(self._server_job_done)
        job.finished.connect(self._server_stopped)
        self._server_job = job
        self._set_status(ServerStatus("stopping", self.status.settings, self.status.url, self.status.pid))
        self.owner._track(start(job, "sieve-serve-stop"))

    def _server_stopped(self) -> None:
        self._set_status(ServerStatus("stopped"))

    # ------------------------------------------------------------------ load runs
    def run(self, plan: InspectionPlan, texts_source: tuple) -> bool:
        """Measure ``plan``'s targets with texts from ``texts_source`` (see ``app.serve.inspection.texts_from``)."""
        if self.owner.closed or self.running:
            return False
        if self._server_job is not None:
            self.message.emit("The local server is starting or stopping; run the load once it has.")
            return False
        from .workers import InspectionWorker, start

        worker = InspectionWorker(plan, texts_source, self.servers, self.load_in)
        worker.planned.connect(self._planned)
        worker.event.connect(self._event)
        worker.failed.connect(lambda message: self.error.emit("The load run stopped", message))
        worker.finished.connect(self._run_done)
        self._runner = worker
        self.busy_changed.emit(True)
        self.message.emit(f"Measuring: {plan.describe()}…")
        self.owner._track(start(worker, "sieve-inspection"))
        return True

    def cancel(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            self.message.emit("Load run cancelled; what was measured is kept.")

    def _planned(self, plan: InspectionPlan) -> None:
        from ..serve.inspection_record import InspectionRecord

        self.record = InspectionRecord(plan, self.owner.model_path)
        self.run_started.emit(self.record)

    def _event(self, event) -> None:  # noqa: ANN001 - an app.serve.inspection event
        from ..serve.inspection import ServerUp, TargetDone

        if self.record is None:
            return
        self.record.apply(event)
        target = self.record.targets[event.target] if hasattr(event, "target") else None
        if isinstance(event, ServerUp) and target is not None and target.target.local:
            server = self.server
            if server is not None:
                self._set_status(ServerStatus("running", server.settings, server.url, server.pid, server.cold_start_s))
        if isinstance(event, TargetDone) and event.error:
            self.error.emit(f"Measuring {target.target.name} stopped", event.error)
        self.run_changed.emit(event)

    def _run_done(self) -> None:
        runner, self._runner = self._runner, None
        if self.record is not None:
            self.record.finish(cancelled=runner is not None and runner.cancel_event.is_set())
            self.run_finished.emit(self.record)
            if not self.record.cancelled:
                self.message.emit("Load run finished. " + self.record.recommendation_text())
        self.busy_changed.emit(False)

    def write_record(self, path) -> bool:  # noqa: ANN001 - Path
        import json

        from ..engine.errors import SieveError
        from ..engine.io import atomic_path

        if self.record is None:
            self.error.emit("Nothing to export", "There is no load run to export yet. Run one first.")
            return False
        try:
            with atomic_path(path) as tmp:
                tmp.write_text(json.dumps(self.record.as_dict(), indent=2), encoding="utf-8")
        except (OSError, SieveError) as exc:
            self.error.emit("Export failed", f"Could not write {path}: {getattr(exc, 'strerror', None) or exc}")
            return False
        self.message.emit(f"Wrote the load run to {path}.")
        return True

    # ------------------------------------------------------------------ lifetime
    def shutdown(self) -> None:
        """Stop the load at once and the local server (SIGTERM, then SIGKILL): nothing outlives the window."""
        if self._runner is not None:
            self._runner.cancel()
        if self._servers is not None:
            self._servers.close()
