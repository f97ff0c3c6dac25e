"""Checks of every protocol: the table, public fields, plaintext, ciphertexts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import gmpy2
import numpy as np

from protocols.hetero_lr.batch_plan import BatchPlan
from protocols.hetero_lr.leakage import gradient_entry_bits
from protocols.hetero_lr.shared_polynomials import DEGREE
from protocols.messages import LrDecision, LrSetup, MessageKind
from tests.support.auditor.context import AuditContext
from tests.support.auditor.declared import (
    DECLARED,
    RECEIVER_KEY_FORMS,
    Route,
    role_of,
    routes_for,
)
from tests.support.auditor.pairing import Wire
from tests.support.auditor.truth import step_index
from tests.support.auditor.values import Needles, distinctive, encodings, fields_of
from vfl.jobs.jobfile import HeteroLrStep, PsiStep, SecureSumStep


def _label_forms(labels: np.ndarray) -> dict[str, bytes]:
    """A label vector as the bytes any plausible encoding would give (both byte orders)."""
    labels = np.asarray(labels)
    arrays: dict[str, np.ndarray] = {
        "uint8": labels.astype(np.uint8),
        "int64": labels.astype(np.int64),
        "float64": labels.astype(np.float64),
        "signed float64": 2.0 * labels.astype(np.float64) - 1.0,
        "signed int8": (2 * labels.astype(np.int8) - 1).astype(np.int8),
        "halves": labels.astype(np.float64) / 2,
    }
    forms = {name: array.tobytes() for name, array in arrays.items()}
    forms |= {
        f"{name} (big-endian)": array.byteswap().tobytes()
        for name, array in arrays.items()
        if array.itemsize > 1
    }
    forms["bits"] = np.packbits(labels.astype(np.uint8)).tobytes()
    return forms


class CommonChecks(AuditContext):
    """Checks of every protocol, mixed into :class:`Audit`.

    ``check_plaintext`` searches the id forms of :meth:`PsiChecks.id_needles`.
    """

    id_needles: Callable[[], tuple[Needles, Any]]  # PsiChecks (annotated only: no shadowing)

    # 1. the table ------------------------------------------------------------------------
    def check_declared(self) -> list[str]:
        """Every message: a declared kind, for this step's protocol, on a declared route."""
        problems: list[str] = []
        for w in self.wire:
            declared = DECLARED.get(w.message.kind)
            if declared is None:
                problems.append(f"undeclared kind {w.message.describe()}")
                continue
            if declared.protocol not in (self.protocol(w.step), "any"):
                problems.append(f"{w.message.describe()} in a {self.protocol(w.step)} step")
            method = self.psi_method(w.step)
            if declared.methods and method not in declared.methods:
                problems.append(f"{w.message.describe()} in a PSI step of method {method!r}")
            if w.message.kind == MessageKind.ABORT:
                problems.append(f"the job aborted: {w.message.describe()}")
            route = self.route(w)
            if route is None:
                purpose = getattr(w.message, "purpose", None)
                problems.append(
                    f"undeclared route {w.message.describe()} ({self.position(w.sender, w.step)}"
                    f" → {self.position(w.receiver, w.step)}, mode {self.mode(w.step)}"
                    + (f", purpose {purpose!r})" if purpose is not None else ")")
                )
                continue
            names = [name for name, _ in fields_of(w.message)]
            if names != [f.name for f in route.fields]:
                problems.append(f"{w.message.describe()}: fields {names} differ from the table")
        return problems

    def observed_routes(self) -> set[tuple[str, str, str, str | None, str | None]]:
        """``(kind, sender, receiver, mode, purpose)`` of every message (roles, or the
        hosts' positions in shared mode)."""
        return {
            (
                w.message.kind.name,
                self.position(w.sender, w.step),
                self.position(w.receiver, w.step),
                self.mode(w.step),
                getattr(w.message, "purpose", None),
            )
            for w in self.wire
        }

    def _shared_purposes(self, step: int, route: Route) -> tuple[str | None, ...]:
        """The purposes of a shared-mode route this job's step must use: ``validation``
        needs early stopping (job files have none), ``loss`` convergence on the loss."""
        config = self.steps[step]
        assert isinstance(config, HeteroLrStep)
        wanted = [p for p in route.purposes if p != "validation"]
        if config.convergence != "loss":
            wanted = [p for p in wanted if p != "loss"]
        return tuple(wanted) if route.purposes else (None,)

    def _expanded(self, party: str, step: int) -> list[str]:
        """A route's party word as the positions this job's step has."""
        if self.mode(step) != "shared" or role_of(party) != "host":
            return [party]
        present = sorted({self.position(h.name, step) for h in self.job.hosts})
        return present if party == "host" else [p for p in present if p == party]

    def expected_routes(self) -> set[tuple[str, str, str, str | None, str | None]]:
        """The declared routes every step of this job must use."""
        expected = set()
        for index, step in self.steps.items():
            mode = self.mode(index)
            for declared in DECLARED.values():
                if declared.protocol != step.type:
                    continue
                if declared.methods and self.psi_method(index) not in declared.methods:
                    continue
                both = getattr(step, "output", "") == "both"
                if declared.kind == MessageKind.PSI_DONE and both:
                    continue
                if declared.kind == MessageKind.PSI_POSITIONS and not both:
                    continue
                if declared.kind == MessageKind.LR_CROSS and len(self.job.hosts) < 2:
                    continue
                if declared.kind == MessageKind.LR_RESUME:
                    continue  # resumed runs only
                for route in routes_for(declared.kind, mode):
                    purposes = self._shared_purposes(index, route) if mode == "shared" else (None,)
                    for sender in self._expanded(route.sender, index):
                        for receiver in self._expanded(route.receiver, index):
                            if mode == "shared" and sender == receiver:
                                continue
                            for purpose in purposes:
                                expected.add((declared.kind.name, sender, receiver, mode, purpose))
        return expected

    # 2. public fields reveal exactly what is declared ------------------------------------
    def check_public_fields(self) -> list[str]:
        self.stats["partial scores checked"] = 0
        self.stats["public fields checked"] = 0
        problems: list[str] = []
        job, truth = self.job, self.truth
        guest = job.guest.name
        data = truth.parties
        psi_step = job.steps[step_index(job, PsiStep)]
        assert isinstance(psi_step, PsiStep)
        aligned = data[guest].aligned
        assert aligned is not None
        rows = len(aligned)
        expected_setup: dict[str, Any] = {}
        epochs = 0
        if self.truth.training:  # a job that trains
            lr_step = job.steps[step_index(job, HeteroLrStep)]
            assert isinstance(lr_step, HeteroLrStep)
            expected_setup = {
                "mode": lr_step.mode,
                "hosts": tuple(h.name for h in job.hosts),
                "rows": rows,
                "batch_size": lr_step.batch_size,
                "max_iter": lr_step.max_iter,
                "guest_features": truth.training[guest].shape[1],
                "weighted": lr_step.class_weight is not None,
                "validation_rows": 0,
                "key_length": lr_step.key_length,
                "resume": False,
                "convergence": lr_step.convergence,
                # job files have no early stopping (and no validation set)
                "early_stopping": getattr(lr_step, "early_stopping", None) or "",
            }
            decisions = [w.message for w in self.wire if isinstance(w.message, LrDecision)]
            epochs = 1 + max(m.round for m in decisions)
        for w in self.wire:
            m, values = w.message, dict(fields_of(w.message))
            kind = m.kind
            expect: dict[str, Any] = {}
            if kind == MessageKind.PSI_SETUP:
                expect = {
                    "method": psi_step.method,
                    "output": psi_step.output,
                    "size": len(data[guest].ids),
                    "chunk_size": psi_step.chunk_size,
                }
                if len(values["salt"]) != 32:
                    problems.append(f"{m.describe()}: a salt of {len(values['salt'])} bytes")
            elif kind == MessageKind.PSI_HOST_SETUP:
                expect = {"size": len(data[w.sender].ids), "rsa_public_key": ()}
            elif kind == MessageKind.PSI_POSITIONS:
                positions = values["positions"]
                host_size = len(data[w.receiver].ids)
                if (
                    positions.dtype.kind not in "iu"
                    or len(positions) != rows
                    or len(set(positions.tolist())) != rows
                    or positions.min() < 0
                    or positions.max() >= host_size
                ):
                    problems.append(f"{m.describe()}: positions are not {rows} distinct indices")
            elif kind == MessageKind.LR_SETUP:
                expect = {k: v for k, v in expected_setup.items() if k != "rows_digest"}
                digest_bytes = 0 if self.roles[w.receiver] == "arbiter" else 32
                if len(values["rows_digest"]) != digest_bytes:
                    problems.append(f"{m.describe()}: a rows digest of the wrong length")
                if len(values["plan_seed"]) != 32:
                    problems.append(
                        f"{m.describe()}: a plan seed of {len(values['plan_seed'])} bytes"
                    )
            elif kind == MessageKind.LR_HOST_SETUP:
                shared = self.mode(w.step) == "shared"
                expect = {
                    "features": truth.training[w.sender].shape[1],
                    "rows": rows,
                    "validation_rows": 0,
                    "gradient_bits": 1 if shared else gradient_entry_bits(truth.training[w.sender]),
                    "resume": False,
                    "resume_seed": b"",
                    "resume_epochs": (),
                }
            elif kind == MessageKind.LR_EPOCH_END:
                for name in ("weight_change", "penalty"):
                    if not (np.isfinite(values[name]) and values[name] >= 0):
                        problems.append(f"{m.describe()}: {name} = {values[name]!r}")
                if values["validation_scores"].shape != (0,):
                    problems.append(f"{m.describe()}: validation scores without a validation set")
            elif kind == MessageKind.LR_DECISION:
                expect = {"stop": m.round == epochs - 1, "best_epoch": -1}
            elif kind == MessageKind.LR_PUBLIC_KEY:
                if values["public_key"].bits != expected_setup["key_length"]:
                    problems.append(f"{m.describe()}: a {values['public_key'].bits}-bit key")
            elif kind == MessageKind.LR_SHARE_POWERS:
                # DEGREE powers, the row weights when weighted, w y and G's loss term
                # with convergence on the loss: public settings only
                weighted = expected_setup["weighted"]
                loss = expected_setup["convergence"] == "loss"
                expect = {"columns": DEGREE + int(weighted) + int(loss)}
            elif kind == MessageKind.LR_SCORE_REQUEST:
                expect = {"rows": rows}
                if len(values["rows_salt"]) != 16 or len(values["rows_digest"]) != 32:
                    problems.append(f"{m.describe()}: a rows salt or digest of the wrong length")
            elif kind == MessageKind.LR_PARTIAL_SCORES:
                if not np.array_equal(values["scores"], truth.final_scores[w.sender]):
                    problems.append(f"{m.describe()}: scores are not exactly X_h w_h")
                self.stats["partial scores checked"] += len(values["scores"])
            elif kind == MessageKind.SUM_PUBLIC_KEY:
                summing = self.steps[w.step]
                assert isinstance(summing, SecureSumStep)
                expect = {"length": len(summing.columns) + 1}
                if values["public_key"].bits != summing.key_length:
                    problems.append(f"{m.describe()}: a {values['public_key'].bits}-bit key")
            elif kind == MessageKind.SUM_PARTIAL:
                ring = [h.name for h in job.hosts]
                expect = {"contributors": ring.index(w.sender) + 1}
            elif kind == MessageKind.SUM_RESULT:
                expect = {"contributors": len(job.hosts) + 1}  # the guest's vector too
                total = np.sum(list(truth.sums.values()), axis=0)
                if not np.allclose(values["totals"], total, rtol=0, atol=1e-6):
                    problems.append(f"{m.describe()}: totals are not the parties' total")
            for name, value in expect.items():
                if values[name] != value:
                    problems.append(
                        f"{m.describe()}: {name} = {values[name]!r}, expected {value!r}"
                    )
            self.stats["public fields checked"] += len(expect)
        return problems

    # 3. no plaintext id, id hash, point, feature or label -------------------------------
    def check_plaintext(self) -> list[str]:
        """No id form, feature value or label vector in any frame or decoded value."""
        needles, _ = self.id_needles()  # a fresh copy: features and labels are added
        truth = self.truth
        features: set[float] = set()
        skipped = 0
        for party in truth.parties.values():
            values = np.concatenate(
                [party.raw.ravel(), truth.training.get(party.name, np.zeros(0)).ravel()]
            )
            unique = set(np.unique(values).tolist())
            kept = distinctive(unique)
            skipped += len(unique - kept)
            features |= kept
        for value in features:
            raw = np.float64(value)
            needles.add(raw.tobytes(), f"feature value {value!r}")
            needles.add(raw.byteswap().tobytes(), f"feature value {value!r} (big-endian)")
        self.stats["distinctive feature values"] = len(features)
        self.stats["round feature values (decoded checks only)"] = skipped
        label_vectors = self._label_vectors()
        for what, labels in label_vectors.items():
            for form, encoded in _label_forms(labels).items():
                if len(encoded) >= 8:
                    needles.add(encoded, f"labels of {what} as {form}")
        self.stats["needles"] = len(needles)
        problems: list[str] = needles.search(self.wire)
        self.stats["plaintext integers checked"] = 0
        problems += self._decoded_plaintext(features, label_vectors)
        return problems

    def _label_vectors(self) -> dict[str, np.ndarray]:
        guest = self.truth.parties[self.job.guest.name]
        assert guest.labels is not None and guest.aligned is not None
        assert guest.aligned.labels is not None
        vectors = {"the CSV": guest.labels, "the aligned rows": guest.aligned.labels}
        setup = next((w.message for w in self.wire if isinstance(w.message, LrSetup)), None)
        if setup is None:  # a PSI job: no batches
            return vectors
        plan = BatchPlan(setup.rows, setup.batch_size, setup.plan_seed)
        epochs = 1 + max(w.message.round for w in self.wire if isinstance(w.message, LrDecision))
        for epoch in range(epochs):
            for batch, rows in enumerate(plan.batches(epoch)):
                vectors[f"epoch {epoch} batch {batch}"] = guest.aligned.labels[rows]
        return vectors

    def _decoded_plaintext(
        self, features: set[float], labels: Mapping[str, np.ndarray]
    ) -> list[str]:
        problems: list[str] = []
        ids = {i for p in self.truth.parties.values() for i in p.ids}
        id_text = {i.decode() for i in ids}
        label_like = [np.asarray(v, dtype=np.float64) for v in labels.values()]
        moduli = {v.public_key.n for _, _, v in self.vectors()}
        forbidden_ints = encodings(
            [*self.truth.training.values(), *(p.raw for p in self.truth.parties.values())], moduli
        )
        for w in self.wire:
            route = self.route(w)
            assert route is not None
            forms = {f.name: f.form for f in route.fields}
            for name, value in fields_of(w.message):
                where = f"{w.message.describe()}.{name}"
                if isinstance(value, str) and (
                    value in id_text or any(t in value for t in id_text)
                ):
                    problems.append(f"{where}: an id in a string")
                elif isinstance(value, tuple) and value and isinstance(value[0], str):
                    if set(value) & id_text:
                        problems.append(f"{where}: an id in a string tuple")
                elif isinstance(value, bytes) and value in ids:
                    problems.append(f"{where}: a raw id")
                elif isinstance(value, float) and value in features:
                    problems.append(f"{where}: a feature value")
                elif isinstance(value, np.ndarray):
                    floats = value.astype(np.float64).ravel()
                    if forms[name] != "positions" and features & set(floats.tolist()):
                        problems.append(
                            f"{where}: {len(features & set(floats.tolist()))} feature values"
                        )
                    if len(floats) >= 16 and np.isin(floats, (0.0, 1.0)).all():
                        problems.append(f"{where}: a label-like 0/1 vector")
                    for labels_ in label_like:
                        for candidate in (labels_, 2 * labels_ - 1, labels_ / 2):
                            if len(candidate) == len(floats) and np.array_equal(candidate, floats):
                                problems.append(f"{where}: the labels")
                elif isinstance(value, tuple) and value:
                    self.stats["plaintext integers checked"] += len(value)
                    if set(value) & forbidden_ints:
                        problems.append(f"{where}: a fixed-point encoding of a feature")
        return problems

    # 4. ciphertexts: keys, ranges, repeats, obfuscators ------------------------------------
    def check_ciphertexts(self) -> list[str]:
        self.stats["ciphertexts"] = 0
        problems: list[str] = []
        seen: dict[int, tuple[str, tuple[Any, ...]]] = {}
        announcer = {(step, key.n): party for (step, party), key in self.keys.items()}
        obfuscators: dict[tuple[int, int, int], tuple[str, tuple[Any, ...]]] = {}
        self.stats["broadcast copies"] = 0

        def repeated(earlier: tuple[str, tuple[Any, ...]], field: Any, w: Wire) -> bool:
            """Whether a repeat is not a declared broadcast copy (same message, field and
            batch, another receiver)."""
            return (
                not field.broadcast
                or earlier[1][:-1] != origin(w, field)
                or earlier[1][-1] == w.receiver
            )

        def origin(w: Wire, field: Any) -> tuple[Any, ...]:
            m = w.message
            return (
                m.kind,
                w.step,
                w.sender,
                getattr(m, "round", 0),
                getattr(m, "batch", 0),
                field.name,
            )

        recovery: dict[int, tuple[Any, Any, Any, Any]] = {}
        for w, field, vector in self.vectors():
            where = f"{w.message.describe()}.{field.name}"
            owner = self.owner(field, w)
            expected = self.keys.get((w.step, owner))
            key = vector.public_key
            if expected is None or key != expected:
                problems.append(f"{where}: under {key.fingerprint}, not {owner}'s announced key")
            holder = announcer.get((w.step, key.n))
            if holder is None:
                problems.append(f"{where}: under a key nobody announced")
            if holder == w.receiver and field.form not in RECEIVER_KEY_FORMS and not field.opened:
                problems.append(f"{where}: the receiver holds the key and it is not masked")
            n, n2 = key.n, key.nsquare
            private = self.private_key(n)
            if private is None:
                problems.append(f"{where}: no private key recorded for {key.fingerprint}")
            elif n not in recovery:
                p, q = private.p, private.q
                recovery[n] = (p, q, gmpy2.invert(n, p - 1), gmpy2.invert(n, q - 1))
            for c in vector.ciphertexts:
                self.stats["ciphertexts"] += 1
                if not 0 < c < n2 or gmpy2.gcd(c, n) != 1:
                    problems.append(f"{where}: a ciphertext outside Z*_(n^2)")
                if c % n == 1:
                    problems.append(f"{where}: a trivial ciphertext (obfuscator 1)")
                this = (where, (*origin(w, field), w.receiver))
                if c in seen:
                    if repeated(seen[c], field, w):
                        problems.append(f"{where}: a ciphertext already sent in {seen[c][0]}")
                    else:
                        self.stats["broadcast copies"] += 1
                        continue
                seen[c] = this
                if n in recovery:
                    p, q, dp, dq = recovery[n]
                    r = (n, int(gmpy2.powmod(c % p, dp, p)), int(gmpy2.powmod(c % q, dq, q)))
                    if r in obfuscators and repeated(obfuscators[r], field, w):
                        problems.append(f"{where}: obfuscator already used in {obfuscators[r][0]}")
                    obfuscators[r] = this
        self.stats["obfuscators recovered"] = len(obfuscators)
        problems += self._check_recovery(recovery)
        return problems

    def _check_recovery(self, recovery: Mapping[int, tuple[Any, Any, Any, Any]]) -> list[str]:
        """The obfuscator formula is right: c == (1 + m n) r^n mod n^2 on a few ciphertexts."""
        checked: Counter[int] = Counter()
        problems = []
        for _, _, vector in self.vectors():
            n = vector.public_key.n
            if n not in recovery or checked[n] >= 3 or not len(vector):
                continue
            c = vector.ciphertexts[0]
            private = self.secrets.private_keys[n]
            m = private.raw_decrypt(c)
            phi = (private.p - 1) * (private.q - 1)
            r = pow(c % n, pow(n, -1, phi), n)
            if (1 + m * n) * pow(r, n, n * n) % (n * n) != c:
                problems.append("obfuscator recovery does not reproduce a ciphertext")
            checked[n] += 1
        return problems
