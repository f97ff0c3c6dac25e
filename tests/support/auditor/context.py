"""What every check works from: the job, its paired wire, the secrets, the truth."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from crypto.paillier import PaillierPrivateKey, PaillierPublicKey
from protocols.messages import BinSetup, LrPublicKey, LrSetup, SumPublicKey
from tests.support.auditor.declared import VECTOR_TYPES, Field, Route, find_route
from tests.support.auditor.pairing import Wire
from tests.support.auditor.secret_log import SecretLog
from tests.support.auditor.truth import load_truth
from tests.support.auditor.values import fields_of
from vfl.jobs.jobfile import HeteroLrStep, JobConfig, PsiStep


class AuditContext:
    """The job, its wire, secrets and truth, and what every check asks of them."""

    def __init__(
        self,
        job: JobConfig,
        wire: Sequence[Wire],
        secrets: SecretLog,
    ) -> None:
        self.job = job
        self.wire = list(wire)
        self.secrets = secrets
        self.roles = {p.name: p.role for p in job.parties}
        self.steps = {i: s for i, s in enumerate(job.steps)}
        self.truth = load_truth(job, self.wire, secrets)
        self.keys = self._announced_keys()
        self.stats: Counter[str] = Counter()

    # the context ------------------------------------------------------------------------
    def mode(self, step: int) -> str | None:
        config = self.steps[step]
        return config.mode if isinstance(config, HeteroLrStep) else None

    def position(self, party: str, step: int) -> str:
        """The party's role or, for a host in a shared-mode step, its position:
        ``partner`` (the first host of the step's :class:`LrSetup`) or ``other-host``."""
        role = self.roles[party]
        if role != "host" or self.mode(step) != "shared":
            return role
        hosts = next(
            (
                w.message.hosts
                for w in self.wire
                if w.step == step and isinstance(w.message, LrSetup)
            ),
            tuple(h.name for h in self.job.hosts),
        )
        return "partner" if party == hosts[0] else "other-host"

    def route(self, w: Wire) -> Route | None:
        """The declared route of a message on the wire (None: undeclared)."""
        return find_route(
            w.message.kind,
            self.position(w.sender, w.step),
            self.position(w.receiver, w.step),
            self.mode(w.step),
            getattr(w.message, "purpose", None),
        )

    def protocol(self, step: int) -> str:
        return self.steps[step].type

    def psi_method(self, step: int) -> str | None:
        config = self.steps[step]
        return config.method if isinstance(config, PsiStep) else None

    def _announced_keys(self) -> dict[tuple[int, str], PaillierPublicKey]:
        keys: dict[tuple[int, str], PaillierPublicKey] = {}
        for w in self.wire:
            if isinstance(w.message, LrPublicKey | SumPublicKey | BinSetup):
                known = keys.setdefault((w.step, w.sender), w.message.public_key)
                assert known == w.message.public_key, f"{w.sender} announced two keys"
        return keys

    def owner(self, field: Field, w: Wire) -> str:
        if field.key == "sender":
            return w.sender
        if field.key == "receiver":
            return w.receiver
        wanted = field.key
        (name,) = [p for p, role in self.roles.items() if role == wanted]
        return name

    def private_key(self, n: int) -> PaillierPrivateKey | None:
        return self.secrets.private_keys.get(n)

    def vectors(self) -> Iterator[tuple[Wire, Field, Any]]:
        for w in self.wire:
            route = self.route(w)
            assert route is not None, w.message.describe()
            declared = {f.name: f for f in route.fields}
            for name, value in fields_of(w.message):
                if isinstance(value, VECTOR_TYPES):
                    yield w, declared[name], value
