"""The ``vfl board`` web server: one static page and its JSON state, read-only.

Python's :class:`http.server.ThreadingHTTPServer` is enough (nothing to install): the
server answers GET only, with three kinds of answer:

- ``/``: the page (``page.html``, package data; its script draws the curves itself:
  no CDN, nothing fetched from the internet);
- ``/api/state``: :func:`vfl.board.state.collect_state` as JSON, polled by the page;
- ``/files/<party folder>/step-<i>-report/<name>.html|.png``: an evaluation report;
  any other path (another file, ``..``, a link out of the folder) is refused with 404.
"""

from __future__ import annotations

import json
import logging
import mimetypes
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from vfl.board.state import StepPlan, collect_state, report_file
from vfl.exceptions import VflError

__all__ = ["BoardServer", "job_plan", "make_server"]

logger = logging.getLogger(__name__)


def _page() -> bytes:
    return resources.files("vfl.board").joinpath("page.html").read_bytes()


def job_plan(path: Path) -> tuple[Path, list[StepPlan]]:
    """A job file's output folder and its steps, for ``vfl board --config``.

    Raises
    ------
    VflError
        When the job file is invalid (the error names the file and the problem).
    """
    from vfl.jobs.jobfile import load_job

    job = load_job(path)
    plan: list[StepPlan] = []
    for index, step in enumerate(job.steps):
        plan.append(
            {
                "index": index,
                "type": step.type,
                "max_iter": getattr(step, "max_iter", None),
                "convergence": getattr(step, "convergence", None),
            }
        )
    return job.output_dir, plan


@dataclass
class BoardServer:
    """What the request handler reads: the folder, the job file's plan, the page."""

    root: Path
    plan: list[StepPlan] | None
    page: bytes


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "vfl-board"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "default-src 'self' 'unsafe-inline'")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _refuse(self, status: HTTPStatus, reason: str) -> None:
        self._send(status, (reason + "\n").encode(), "text/plain; charset=utf-8")

    def do_GET(self) -> None:
        board = self.server.board
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, board.page, "text/html; charset=utf-8")
        elif path == "/api/state":
            try:
                state = collect_state(board.root, board.plan)
            except OSError as error:
                self._refuse(HTTPStatus.INTERNAL_SERVER_ERROR, f"cannot read the folder: {error}")
                return
            body = json.dumps(state, allow_nan=False, default=str).encode()
            self._send(HTTPStatus.OK, body, "application/json")
        elif path.startswith("/files/"):
            found = report_file(board.root, unquote(path[len("/files/") :]))
            if found is None:
                self._refuse(HTTPStatus.NOT_FOUND, "not an evaluation report file of this folder")
                return
            kind = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
            self._send(HTTPStatus.OK, found.read_bytes(), kind)
        else:
            self._refuse(HTTPStatus.NOT_FOUND, "no such page: the board serves / and /api/state")

    def do_HEAD(self) -> None:
        self.do_GET()

    def _read_only(self) -> None:
        self._refuse(HTTPStatus.METHOD_NOT_ALLOWED, "the board is read-only: GET only")

    def do_POST(self) -> None:
        self._read_only()

    def do_PUT(self) -> None:
        self._read_only()

    def do_DELETE(self) -> None:
        self._read_only()

    def do_PATCH(self) -> None:
        self._read_only()

    def do_OPTIONS(self) -> None:
        self._read_only()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    board: BoardServer


def make_server(
    root: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    plan: list[StepPlan] | None = None,
) -> ThreadingHTTPServer:
    """A server (not yet serving) for the board of the jobs under ``root``.

    Parameters
    ----------
    root : pathlib.Path
        A party folder, an output folder or a folder of output folders.
    host, port : str, int
        Where to listen (127.0.0.1 by default: the page is for this machine).
    plan : list of StepPlan, optional
        The job file's steps (:func:`job_plan`).  With a plan, ``root`` (the job's
        output folder) may not exist yet: the page waits for the parties' first files.

    Raises
    ------
    VflError
        When ``root`` is not a folder or the port cannot be bound.
    """
    root = Path(root)
    if not root.is_dir() and (plan is None or root.exists() or not root.parent.is_dir()):
        raise VflError(f"{root}: no such folder: give the job's output folder (output_dir)")
    try:
        server = _Server((host, port), _Handler)
    except OSError as error:
        raise VflError(
            f"cannot listen on {host}:{port} ({error.strerror}): choose another --port"
        ) from None
    server.board = BoardServer(root.resolve(), plan, _page())
    return server
