"""``type = "psi"``: align the parties' rows on their common customer ids.

Each party's output is its data file restricted to the common ids, in one order
agreed by every party (``output = "both"``), plus a summary; later steps of the job
work on the aligned rows.  On ``--resume`` the aligned rows are read back from
``step-<i>-psi.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from protocols.exceptions import ProtocolError
from protocols.psi import PsiOutcome, psi_guest, psi_host
from protocols.psi.packed import PackedIds
from protocols.psi.settings import DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, METHODS, OUTPUTS, PsiSettings
from vfl.steps.base import (
    JobCheck,
    LoadContext,
    Section,
    StepContext,
    StepOutcome,
    StepType,
    non_zero_workers,
    read_options,
)
from vfl.tables.datasets import read_party_csv, write_party_csv

if TYPE_CHECKING:
    from protocols.roles import Role

__all__ = ["PsiStep", "PsiType"]


@dataclass(frozen=True)
class PsiStep:
    """``type = "psi"``: align the parties' rows on their common customer ids.

    Each party's output is its data file restricted to the common ids, in one order
    agreed by every party (``output = "both"``), plus a summary.  Later steps of the
    job use the aligned rows.
    """

    method: str
    output: str
    dedupe: bool
    chunk_size: int
    rsa_key_length: int
    n_jobs: int | None

    type = "psi"

    def settings(self, allow_weak_key: bool) -> PsiSettings:
        """The protocol parameters of this step."""
        return PsiSettings(
            method=self.method,  # type: ignore[arg-type]  # checked when loaded
            output=self.output,  # type: ignore[arg-type]
            chunk_size=self.chunk_size,
            rsa_key_length=self.rsa_key_length,
            allow_weak_key=allow_weak_key,
            n_jobs=self.n_jobs,
        )


class PsiType(StepType[PsiStep]):
    """The ``psi`` step type."""

    name = "psi"
    output_files = ("aligned_file",)

    def parse(self, section: Section, context: LoadContext) -> PsiStep:
        """See :meth:`StepType.parse`."""
        psi = PsiStep(
            method=section.take(
                "method",
                str,
                "ecdh",
                lambda v: None if v in METHODS else f"must be one of {METHODS}",
            ),
            output=section.take(
                "output",
                str,
                "both",
                lambda v: None if v in OUTPUTS else f"must be one of {OUTPUTS}",
            ),
            dedupe=section.take("dedupe", bool, False),
            chunk_size=section.take(
                "chunk_size",
                int,
                DEFAULT_CHUNK_SIZE,
                lambda v: None if 1 <= v <= MAX_CHUNK_SIZE else f"must be in 1..{MAX_CHUNK_SIZE}",
            ),
            rsa_key_length=section.take(
                "rsa_key_length", int, 2048, lambda v: None if v >= 1024 else "must be >= 1024"
            ),
            n_jobs=section.take("n_jobs", int, None, non_zero_workers),
        )
        section.finish()
        try:
            psi.settings(allow_weak_key=True)
        except ProtocolError as error:
            raise context.error(str(error)) from None
        return psi

    def check(self, step: PsiStep, index: int, job: JobCheck) -> None:
        """The method and output suit the number of hosts; later steps see the alignment."""
        try:
            step.settings(allow_weak_key=True).check_hosts(len(job.hosts))
        except ProtocolError as error:
            raise job.steps_error(str(error)) from None
        job.unaligned = (
            None
            if step.output == "both"
            else f"the psi step before it has output = {step.output!r}; use output = 'both'"
        )

    def dedupe(self, step: PsiStep) -> bool:
        """``dedupe = true`` keeps each repeated id's first row."""
        return step.dedupe

    def build_role(self, step: PsiStep, context: StepContext) -> Role | None:
        """The guest's or a host's PSI role on its ids (the arbiter takes no part)."""
        if context.party.role == "arbiter":
            return None
        rows = context.rows()
        job, party = context.job, context.party
        settings = step.settings(allow_weak_key=job.allow_weak_keys)
        # no list of bytes; the table's reader refused (or dropped) repeated ids
        ids = PackedIds((customer.encode("utf-8") for customer in rows.ids), known_unique=True)
        if party.role == "guest":
            hosts = [host.name for host in job.hosts]
            return psi_guest(party.name, context.job_id, hosts=hosts, ids=ids, settings=settings)
        return psi_host(
            party.name, context.job_id, guest=job.guest.name, ids=ids, settings=settings
        )

    def output(
        self, step: PsiStep, context: StepContext, role: Role, result: Any, seconds: float
    ) -> StepOutcome:
        """Write the aligned data file (if this party learned the rows).

        The next steps see the common customers in the agreed order for output
        ``"both"``, the whole table otherwise.
        """
        outcome: PsiOutcome = result
        table = context.rows()
        party = context.party
        aligned = table
        aligned_path = None
        if outcome.rows is not None:
            aligned = table.take(outcome.rows)
            aligned_path = context.folder / f"step-{context.index}-psi.csv"
            assert party.data is not None
            write_party_csv(
                aligned,
                aligned_path,
                id_column=party.data.id_column,
                label_column=party.data.label_column,
            )
        document = {
            "method": step.method,
            "output": step.output,
            "input_rows": len(table) + table.duplicates_dropped,
            "duplicates_dropped": table.duplicates_dropped,
            "ids": outcome.own_size,
            "peer_ids": dict(outcome.peer_sizes),
            "intersection_size": outcome.size,
            "aligned_file": aligned_path.name if aligned_path is not None else None,
            "seconds": round(seconds, 3),
        }
        return StepOutcome(document, aligned if step.output == "both" else table, context.model)

    def reload(self, step: PsiStep, context: StepContext, document: dict[str, Any]) -> StepOutcome:
        """Read the aligned rows back from ``step-<i>-psi.csv``."""
        table = context.table
        aligned_path = context.output_file(document, "aligned_file")
        if aligned_path is not None:
            data = context.party.data
            assert data is not None
            aligned = read_party_csv(
                aligned_path,
                id_column=data.id_column,
                label_column=data.label_column,
                **read_options(context.job, context.party),
            )
            table = aligned if step.output == "both" else table
        return StepOutcome(document, table, context.model)
