"""``vfl board``: a read-only live page of the jobs under a folder (see docs/board.md)."""

from vfl.board.server import job_plan, make_server
from vfl.board.state import collect_state

__all__ = ["collect_state", "job_plan", "make_server"]
