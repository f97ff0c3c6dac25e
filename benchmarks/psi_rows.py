"""What the PSI benchmark reports: one row per set size, as JSON, a table and a plot.

A row puts this project's PSI (two ``vfl run`` processes over mutual TLS) next to
openmined-psi's full protocol run in the benchmark process on the same ids.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.psi_spu import SpuRun

__all__ = [
    "MIB",
    "PARTIES",
    "BaselineRun",
    "EngineRun",
    "PartyRun",
    "SizeResult",
    "comparison_table",
    "markdown_table",
    "plot_results",
    "summarize",
]

MIB = 1024 * 1024
"""Bytes per MB as reported (MiB)."""

PARTIES = ("guest", "host")
"""The two parties of every benchmark job, in table order."""


@dataclass(frozen=True)
class PartyRun:
    """One ``vfl run`` process.

    Attributes
    ----------
    name : str
        Party name (``"guest"`` or ``"host"``).
    exit_code : int
        The process's exit status (0: success; negative: killed by that signal).
    exited_after : float
        Seconds from the start of the first process until this one exited.
    own_seconds : float or None
        ``seconds`` of the party's PSI summary (the step alone, as the party timed it).
    peak_rss_bytes : int
        Peak resident set size (``ru_maxrss`` from ``wait4``).
    cpu_seconds : float
        User plus system CPU time of the process.
    bytes_sent : int or None
        Bytes of the encoded messages the party sent in the PSI step, from its audit
        log (the transport's framing and TLS not counted); ``None`` if not recorded.
    """

    name: str
    exit_code: int
    exited_after: float
    own_seconds: float | None
    peak_rss_bytes: int
    cpu_seconds: float
    bytes_sent: int | None = None

    @property
    def peak_rss_mb(self) -> float:
        """Peak RSS in MB (MiB)."""
        return self.peak_rss_bytes / MIB

    def to_json(self) -> dict[str, Any]:
        """The JSON record of this process."""
        return {
            "exit_code": self.exit_code,
            "exited_after_seconds": round(self.exited_after, 3),
            "own_seconds": self.own_seconds,
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "bytes_sent": self.bytes_sent,
        }


@dataclass(frozen=True)
class EngineRun:
    """This project's PSI at one size: both parties as separate processes.

    Attributes
    ----------
    method : str
        A PSI method of :data:`protocols.psi.settings.METHODS`.
    n_jobs : int
        ``n_jobs`` of the PSI step (each party's workers).
    wall_seconds : float
        From just before the first process was started until both had exited.
    parties : mapping
        Party name to its :class:`PartyRun`.
    intersection_size : int
        Common ids found (checked against the expected ids).
    """

    method: str
    n_jobs: int
    wall_seconds: float
    parties: Mapping[str, PartyRun]
    intersection_size: int

    @property
    def total_bytes(self) -> int | None:
        """Bytes sent by both parties (``None`` if a party's count is missing)."""
        counts = [run.bytes_sent for run in self.parties.values()]
        if not counts or any(count is None for count in counts):
            return None
        return sum(count for count in counts if count is not None)

    def bytes_per_item(self, size: int) -> float | None:
        """Bytes sent by both parties per id of one side (``size`` ids per side).

        Examples
        --------
        >>> party = PartyRun("guest", 0, 1.0, 0.5, 2**20, 0.4, bytes_sent=300)
        >>> run = EngineRun("kkrt", 1, 1.0, {"guest": party, "host": party}, 5)
        >>> run.bytes_per_item(10)
        60.0
        """
        total = self.total_bytes
        return None if total is None or size <= 0 else total / size

    def to_json(self, size: int) -> dict[str, Any]:
        """The JSON record of this run (``size`` ids per side)."""
        per_item = self.bytes_per_item(size)
        return {
            "method": self.method,
            "n_jobs": self.n_jobs,
            "wall_seconds": round(self.wall_seconds, 3),
            "items_per_second": _rate(size, self.wall_seconds),
            "intersection_size": self.intersection_size,
            "total_bytes": self.total_bytes,
            "bytes_per_item": None if per_item is None else round(per_item, 2),
            "parties": {name: run.to_json() for name, run in self.parties.items()},
        }


@dataclass(frozen=True)
class BaselineRun:
    """openmined-psi's full protocol at one size, in the benchmark process.

    Attributes
    ----------
    seconds : float
        Total wall time of the phases.
    phases : mapping
        Phase name to its wall time (keys, server setup, client request, server
        response, client intersection).
    message_bytes : mapping
        Serialized size of the setup, request and response messages.
    intersection_size : int
        Common ids found (checked against the expected ids).
    version : str or None
        The openmined-psi version.
    """

    seconds: float
    phases: Mapping[str, float]
    message_bytes: Mapping[str, int]
    intersection_size: int
    version: str | None

    def to_json(self, size: int) -> dict[str, Any]:
        """The JSON record of this run (``size`` ids per side)."""
        return {
            "seconds": round(self.seconds, 3),
            "items_per_second": _rate(size, self.seconds),
            "intersection_size": self.intersection_size,
            "phases": {name: round(value, 3) for name, value in self.phases.items()},
            "message_bytes": dict(self.message_bytes),
            "version": self.version,
        }


@dataclass(frozen=True)
class SizeResult:
    """Every figure measured at one set size.

    Attributes
    ----------
    size : int
        Ids per side.
    expected_intersection : int
        Common ids by construction.
    ours : EngineRun
        This project's run.
    baseline : BaselineRun or None
        openmined-psi's run (``None`` above ``--baseline-max-size``).
    data_seconds : float
        Generating and writing the id files, certificates and job file (untimed).
    more : tuple of EngineRun
        Our runs with the other methods of ``--methods`` on the same ids.
    spu : tuple of SpuRun
        SecretFlow spu's PSI runs (``--spu``) on the same ids.
    """

    size: int
    expected_intersection: int
    ours: EngineRun
    baseline: BaselineRun | None
    data_seconds: float
    more: tuple[EngineRun, ...] = ()
    spu: tuple[SpuRun, ...] = ()

    @property
    def items_per_second(self) -> float:
        """Ids per side per wall second, ours."""
        return _rate(self.size, self.ours.wall_seconds)

    @property
    def speedup(self) -> float | None:
        """openmined-psi seconds over our wall seconds (``None`` without a baseline)."""
        if self.baseline is None or self.ours.wall_seconds <= 0:
            return None
        return self.baseline.seconds / self.ours.wall_seconds

    def to_json(self) -> dict[str, Any]:
        """The JSON record of this size (``verified`` is always true: failures stop the run)."""
        speedup = self.speedup
        return {
            "size": self.size,
            "expected_intersection": self.expected_intersection,
            "verified": True,
            "ours": self.ours.to_json(self.size),
            "baseline": None if self.baseline is None else self.baseline.to_json(self.size),
            "speedup": None if speedup is None else round(speedup, 3),
            "data_seconds": round(self.data_seconds, 3),
            "more_methods": {run.method: run.to_json(self.size) for run in self.more},
            "spu": {
                run.protocol: {
                    **run.to_json(),
                    "ours_wall_over_spu_wall": round(self.ours.wall_seconds / run.wall_s, 3),
                }
                for run in self.spu
            },
        }


def _rate(size: int, seconds: float) -> float:
    return round(size / seconds, 1) if seconds > 0 else math.inf


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def _per_second(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} /s"


def markdown_table(results: Sequence[SizeResult]) -> str:
    """One Markdown table: a row per size, ours and openmined-psi side by side.

    Parameters
    ----------
    results : sequence of SizeResult
        The measured sizes.

    Returns
    -------
    str
        The table and a legend, ready to paste into a README.
    """
    lines = [
        "| ids per side | ours wall | ours ids/s | guest / host own | "
        "peak RSS guest / host | common ids | openmined-psi | openmined ids/s | speed-up |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        guest, host = (result.ours.parties[name] for name in PARTIES)
        baseline = result.baseline
        speedup = result.speedup
        lines.append(
            f"| {result.size:,} | {_seconds(result.ours.wall_seconds)} | "
            f"{_per_second(result.items_per_second)} | "
            f"{_seconds(guest.own_seconds)} / {_seconds(host.own_seconds)} | "
            f"{guest.peak_rss_mb:,.0f} / {host.peak_rss_mb:,.0f} MB | "
            f"{result.ours.intersection_size:,} | "
            f"{_seconds(None if baseline is None else baseline.seconds)} | "
            f"{_per_second(None if baseline is None else result.size / baseline.seconds)} | "
            f"{'n/a' if speedup is None else f'{speedup:.1f}x'} |"
        )
    legend = (
        "Ours: two `vfl run` processes (guest, host) over mutual TLS on loopback, wall time "
        "from starting them to both exiting (interpreter start, TLS, reading the CSV and "
        "writing the aligned CSV included); 'own' is the PSI step as each party timed it. "
        "openmined-psi: server setup + client request + server response + client "
        "intersection in one process (reveal_intersection=True, GCS, fpr 1e-9). "
        "Speed-up = openmined-psi seconds / our wall seconds."
    )
    return "\n".join(lines) + "\n\n" + legend + "\n\n" + comparison_table(results)


def _bytes(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def _megabytes(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 1e6:,.1f}"


def comparison_table(results: Sequence[SizeResult]) -> str:
    """Every run on the same ids: ours per method and spu's, with bytes sent per id.

    Parameters
    ----------
    results : sequence of SizeResult
        The measured sizes.

    Returns
    -------
    str
        A Markdown table (a row per size and run) and its legend.
    """
    lines = [
        "| ids per side | run | wall | step / protocol | bytes per id | "
        "MB sent guest / host | peak RSS guest / host | ours / this |",
        "|---:|:---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        reference = result.ours.wall_seconds
        for run in (result.ours, *result.more):
            guest, host = (run.parties[name] for name in PARTIES)
            own = [p.own_seconds for p in (guest, host) if p.own_seconds is not None]
            sent = " / ".join(_megabytes(p.bytes_sent) for p in (guest, host))
            lines.append(
                f"| {result.size:,} | ours {run.method} | {_seconds(run.wall_seconds)} | "
                f"{_seconds(max(own) if own else None)} | "
                f"{_bytes(run.bytes_per_item(result.size))} | {sent} | "
                f"{guest.peak_rss_mb:,.0f} / {host.peak_rss_mb:,.0f} MB | "
                f"{reference / run.wall_seconds:.2f} |"
            )
        for spu in result.spu:
            rss = [spu.peak_rss_bytes[name] / MIB for name in PARTIES]
            sent = " / ".join(f"{spu.bytes_sent[name] / 1e6:,.1f}" for name in PARTIES)
            lines.append(
                f"| {result.size:,} | spu {spu.version} {spu.protocol} | "
                f"{_seconds(spu.wall_s)} | {_seconds(spu.protocol_s)} | "
                f"{_bytes(spu.bytes_per_item)} | {sent} | "
                f"{rss[0]:,.0f} / {rss[1]:,.0f} MB | {reference / spu.wall_s:.2f} |"
            )
    legend = (
        "Every run: two party processes on loopback, the same ids, wall time from starting "
        "them to both exiting, outputs checked. Bytes per id = bytes sent by both parties "
        "/ ids per side; ours: the encoded messages of the PSI step (audit log; TLS and "
        "framing not counted); spu: TCP payload through a counting relay (brpc framing "
        "included). 'step / protocol': our PSI step as the slower party timed it; spu's "
        "psi_execute call (CSV in and out included, link set-up excluded). spu's peak RSS "
        "includes ~180 MB for `import spu` alone. 'ours / this' = the wall time of our "
        "first method / this run's (above 1: this run is faster)."
    )
    return "\n".join(lines) + "\n\n" + legend + "\n"


def plot_results(results: Sequence[SizeResult], path: Path, *, title: str) -> None:
    """Plot ids per second against set size (log-log), both engines, into a PNG.

    Each of our points is annotated with the peak RSS of both parties.

    Parameters
    ----------
    results : sequence of SizeResult
        The measured sizes.
    path : Path
        The PNG file to write (parent directories are created).
    title : str
        The figure title.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ordered = sorted(results, key=lambda r: r.size)
    figure = Figure(figsize=(11, 5.5), layout="constrained")
    FigureCanvasAgg(figure)
    rates, walls = figure.subplots(1, 2)

    sizes = [r.size for r in ordered]
    ours_rate = [r.items_per_second for r in ordered]
    ours_wall = [r.ours.wall_seconds for r in ordered]
    rates.plot(sizes, ours_rate, "-o", linewidth=1.8, label="this project (2 processes, TLS)")
    walls.plot(sizes, ours_wall, "-o", linewidth=1.8, label="this project (2 processes, TLS)")
    for result in ordered:
        guest, host = (result.ours.parties[name] for name in PARTIES)
        rates.annotate(
            f"RSS {guest.peak_rss_mb:,.0f} / {host.peak_rss_mb:,.0f} MB",
            (result.size, result.items_per_second),
            textcoords="offset points",
            xytext=(0, 9),
            ha="center",
            fontsize=8,
        )
    measured = [(r, r.baseline) for r in ordered if r.baseline is not None]
    base_rate = [r.size / b.seconds for r, b in measured]
    if measured:
        base_sizes = [r.size for r, _ in measured]
        base_seconds = [b.seconds for _, b in measured]
        label = "openmined-psi (1 process)"
        rates.plot(base_sizes, base_rate, "--s", color="black", linewidth=1.5, label=label)
        walls.plot(base_sizes, base_seconds, "--s", color="black", linewidth=1.5, label=label)
        for (result, _), rate in zip(measured, base_rate, strict=True):
            speedup = result.speedup
            if speedup is not None:
                rates.annotate(
                    f"ours {speedup:.1f}x faster",
                    (result.size, rate),
                    textcoords="offset points",
                    xytext=(0, -14),
                    ha="center",
                    fontsize=8,
                )
    for axis in (rates, walls):
        axis.set_xscale("log")
        axis.set_yscale("log")
        if sizes:
            axis.set_xlim(min(sizes) / 2, max(sizes) * 2)
        axis.set_xlabel("ids per side (50% common)")
        axis.grid(True, which="major", alpha=0.3)
        axis.legend(fontsize=8, loc="best")
    rates.set_ylabel("ids per side per second (higher is better)")
    rates.set_title("throughput (annotated: peak RSS guest / host; speed-up)")
    walls.set_ylabel("wall seconds (lower is better)")
    walls.set_title("time to the aligned rows")
    if ours_rate:
        low = min([*ours_rate, *base_rate])
        high = max(ours_rate)
        rates.set_ylim(low / 2, high * 2)
    figure.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def summarize(results: Sequence[SizeResult]) -> dict[str, dict[str, Any]]:
    """JSON records of ``results`` keyed by size (as a string), in increasing size.

    Parameters
    ----------
    results : sequence of SizeResult
        The measured sizes.

    Returns
    -------
    dict
        ``{"<size>": record}``.
    """
    return {str(r.size): r.to_json() for r in sorted(results, key=lambda r: r.size)}
