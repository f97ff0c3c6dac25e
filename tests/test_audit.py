"""Audit every message of whole PSI + training + scoring jobs (issue 7).

Both example jobs (two-party; arbiter with two hosts) run end to end, in one process
(``simulate_job`` with a transcript recorder) and as real ``vfl run`` processes over
mutual TLS writing ``--transcript`` files.  :mod:`tests.auditor` checks every message
against the declared leakage table (SECURITY.md §9 to §11): declared kinds and routes
only; no plaintext id, id hash, hash-to-curve point, feature or label; every
ciphertext under the declared owner's announced key; everything a key owner decrypts
for someone else uniformly masked; no ciphertext or obfuscator ever repeated.

The secrets the audit needs (private keys, PSI scalars, masks) are recorded by
wrapping the real functions that make them; the engine runs unchanged.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from crypto.ecdh import ecdh_dst
from crypto.encoding import encode_array, to_signed
from crypto.hash_to_curve import hash_to_x25519
from crypto.paillier import EncryptedVector, MaskedVector
from protocols.hetero_lr.party import ENCRYPTION_EXPONENT, FACTOR_EXPONENT, MAX_SAMPLE_WEIGHT
from protocols.hetero_lr.settings import SCORE_BOUND
from protocols.messages import (
    MESSAGE_TYPES,
    LrCross,
    LrEpochEnd,
    LrForward,
    LrMasked,
    LrResidual,
    MessageKind,
    PsiGuestItems,
    PsiSetup,
    payload_fields,
)
from tests import auditor
from tests.auditor import (
    DECLARED,
    FORMS,
    LR,
    Audit,
    SecretLog,
    Wire,
    distinctive,
    pair_transcripts,
    prepare_example,
    record_secrets,
    recorder_entries,
)
from tests.job_files import free_ports
from vfl import codec
from vfl.certs import create_job_certificates
from vfl.jobfile import JobConfig, load_job
from vfl.jobs import simulate_job
from vfl.transcript import TranscriptRecorder, read_transcript

EXAMPLES = {"two-party": "hetero-lr", "arbiter": "hetero-lr-arbiter"}
EPOCHS = {"simulated": 3, "tls": 2}

KNOWN_DOC_GAPS: set[str] = set()
"""Where SECURITY.md does not (yet) declare a route the engine uses.  New gaps fail."""

# A leak these tests found and that is fixed: in arbiter mode two vectors carried a
# bound (public metadata) computed from the data instead of public constants.
# * LrResidual.residual, guest -> every host: `total + plain` raised the bound by the
#   largest |u_g/4 - y/2| of the batch (in epoch 0 batch 0: whether it holds a positive
#   label).
# * LrCross.cross, host j > 1 -> guest: prefix.matmul(scores) multiplied the bound by
#   sum_i |u_j,i|, the L1 norm of that host's partial scores per batch.
# Now every sent vector claims the public worst case (party.with_public_bound); the
# tests below would catch a regression value by value.


# the runs ------------------------------------------------------------------------------------
@dataclasses.dataclass
class Run:
    name: str
    job: JobConfig
    wire: list[Wire]
    audit: Audit


def _simulated(folder: Path, mode: str) -> Run:
    job = load_job(prepare_example(EXAMPLES[mode], folder, max_iter=EPOCHS["simulated"]))
    recorder = TranscriptRecorder()
    with record_secrets(SecretLog()) as secrets:
        simulate_job(job, recorder=recorder)
    wire = pair_transcripts(recorder_entries(recorder.entries))
    return Run(mode, job, wire, Audit(job, wire, secrets))


def _over_tls(folder: Path, mode: str) -> Run:
    """The job as real `vfl run` processes over mutual TLS, writing --transcript files.

    Each process is ``vfl.cli.main`` inside :func:`tests.auditor.main`, which records
    that party's secrets (keys, PSI scalars, masks) to a file for the audit.
    """
    example = EXAMPLES[mode]
    parties = 2 if mode == "two-party" else 4
    path = prepare_example(example, folder, max_iter=EPOCHS["tls"], ports=free_ports(parties))
    job = load_job(path)
    create_job_certificates(folder / "certs", [p.name for p in job.parties])
    launcher = "from tests.auditor import main; raise SystemExit(main())"
    processes = {
        party.name: subprocess.Popen(
            [
                sys.executable,
                "-c",
                launcher,
                str(folder / f"{party.name}.secrets"),
                "run",
                "--config",
                str(path),
                "--party",
                party.name,
                "--no-progress",
                "--transcript",
                str(folder / f"{party.name}.transcript"),
            ],
            cwd=auditor.ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for party in job.parties
    }
    for name, process in processes.items():
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, f"{name}: {stderr[-3000:]}"
    entries = [e for p in job.parties for e in read_transcript(folder / f"{p.name}.transcript")]
    wire = pair_transcripts(entries)
    secrets = SecretLog.load(sorted(folder.glob("*.secrets")))
    return Run(f"{mode} over TLS", job, wire, Audit(job, wire, secrets))


@pytest.fixture(scope="module")
def two_party(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _simulated(tmp_path_factory.mktemp("two-party"), "two-party")


@pytest.fixture(scope="module")
def arbiter(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _simulated(tmp_path_factory.mktemp("arbiter"), "arbiter")


@pytest.fixture(scope="module")
def two_party_tls(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _over_tls(tmp_path_factory.mktemp("two-party-tls"), "two-party")


@pytest.fixture(scope="module")
def arbiter_tls(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _over_tls(tmp_path_factory.mktemp("arbiter-tls"), "arbiter")


RUNS = ["two_party", "arbiter", "two_party_tls", "arbiter_tls"]


@pytest.fixture(params=RUNS)
def run(request: pytest.FixtureRequest) -> Run:
    return request.getfixturevalue(request.param)


# the table itself --------------------------------------------------------------------------
def test_every_message_kind_is_declared() -> None:
    assert set(DECLARED) == set(MessageKind)
    for kind, declared in DECLARED.items():
        assert MESSAGE_TYPES[kind].__name__ == declared.cls
        assert declared.routes


def test_declared_fields_are_exactly_the_message_fields() -> None:
    for kind, declared in DECLARED.items():
        names = [field.name for field in payload_fields(MESSAGE_TYPES[kind])]
        for route in declared.routes:
            assert [field.name for field in route.fields] == names, (declared.cls, route)
            assert route.mode is None or declared.protocol == LR, (declared.cls, route)
            for field in route.fields:
                assert field.form in FORMS and field.reveals
                if field.form == "masked":  # only a key owner gets masked values
                    assert route.receiver in ("host", "guest", "arbiter")


def test_security_md_names_every_declared_kind() -> None:
    text = auditor.SECURITY_MD.read_text()
    undocumented = {gap.split(" ")[0] for gap in KNOWN_DOC_GAPS if gap.startswith("LrResume")}
    missing = {d.cls for d in DECLARED.values() if f"`{d.cls}`" not in text}
    assert missing <= undocumented, f"SECURITY.md does not name {sorted(missing - undocumented)}"
    # and its message tables name only real message kinds
    assert auditor.security_md_message_names() <= {d.cls for d in DECLARED.values()}


def test_security_md_routes_match_the_table() -> None:
    gaps = set(auditor.security_md_gaps())
    assert gaps <= KNOWN_DOC_GAPS, sorted(gaps - KNOWN_DOC_GAPS)


def test_the_security_md_parser_reads_every_table() -> None:
    documented = auditor.security_md_routes()
    assert documented[("LrPublicKey", "two-party")] == {("guest", "host"), ("host", "guest")}
    assert documented[("LrMasked", "arbiter")] == {("guest", "arbiter"), ("host", "arbiter")}
    assert documented[("LrEpochEnd", "arbiter")] == {("host", "guest")}
    assert documented[("SumPartial", None)] == {("host", "host"), ("host", "guest")}
    assert documented[("LrPartialScores", None)] == {("host", "guest")}
    assert documented[("PsiDone", None)] == {("guest", "host")}


# every run ------------------------------------------------------------------------------------
def test_every_frame_sent_is_received_unchanged(run: Run) -> None:
    # pair_transcripts asserted it per connection; here: the whole job is there
    kinds = {w.message.kind for w in run.wire}
    assert {MessageKind.PSI_SETUP, MessageKind.LR_MASKED, MessageKind.LR_PARTIAL_SCORES} <= kinds
    parties = {p.name for p in run.job.parties}
    assert {w.sender for w in run.wire} | {w.receiver for w in run.wire} == parties
    assert {w.step for w in run.wire} == {0, 1, 2}


def test_every_message_is_declared_and_every_route_ran(run: Run) -> None:
    assert run.audit.check_declared() == []
    assert run.audit.observed_routes() == run.audit.expected_routes()


def test_public_fields_reveal_only_what_is_declared(run: Run) -> None:
    assert run.audit.check_public_fields() == []
    assert run.audit.stats["partial scores checked"] > 0


def test_no_plaintext_id_feature_or_label_in_any_message(run: Run) -> None:
    assert run.audit.check_plaintext() == []
    assert run.audit.stats["distinctive feature values"] > 10_000
    assert run.audit.stats["round feature values (decoded checks only)"] <= 2


def test_no_psi_item_is_testable_by_its_receiver(run: Run) -> None:
    assert run.audit.check_psi_items() == []
    assert run.audit.stats["psi items checked"] >= 1000


def test_every_ciphertext_is_valid_under_the_expected_key_and_never_repeats(run: Run) -> None:
    assert run.audit.check_ciphertexts() == []
    stats = run.audit.stats
    assert stats["ciphertexts"] > 1000
    assert stats["obfuscators recovered"] == stats["ciphertexts"]  # all distinct, all checked


def test_key_owners_decrypt_only_uniformly_masked_values(run: Run) -> None:
    assert run.audit.check_masking() == []
    assert run.audit.stats["masked values decrypted"] > 30


def test_the_guest_never_sees_a_training_partial_score(run: Run) -> None:
    assert run.audit.check_forward_truth() == []


@pytest.mark.parametrize(
    "name",
    [
        "two_party",
        "two_party_tls",
        "arbiter",
        "arbiter_tls",
    ],
)
def test_vector_metadata_does_not_depend_on_the_data(
    name: str, request: pytest.FixtureRequest
) -> None:
    run: Run = request.getfixturevalue(name)
    assert run.audit.check_metadata() == []


# the arbiter-mode bound leak, value by value ------------------------------------------------
def _arbiter_private_key(run: Run) -> Any:
    (arbiter,) = [p.name for p in run.job.parties if p.role == "arbiter"]
    return run.audit.secrets.private_keys[run.audit.keys[(1, arbiter)].n]


def _signed(private: Any, vector: Any) -> list[int]:
    n = vector.public_key.n
    return [to_signed(m, n) for m in private.decrypt_raw(vector)]


def _forwards(run: Run, private: Any) -> dict[tuple[str, int, int], list[int]]:
    return {
        (w.sender, w.message.round, w.message.batch): _signed(private, w.message.quarter_scores)
        for w in run.wire
        if isinstance(w.message, LrForward)
    }


def test_arbiter_mode_residual_bound_hides_the_guest_residuals(arbiter: Run) -> None:
    private = _arbiter_private_key(arbiter)
    forwards = _forwards(arbiter, private)
    hosts = [h.name for h in arbiter.job.hosts]
    (quarter_bound,) = encode_array(np.array([SCORE_BOUND / 4]), ENCRYPTION_EXPONENT)
    revealed = []
    for w in arbiter.wire:
        if isinstance(w.message, LrResidual):
            m = w.message
            total = np.sum([forwards[(h, m.round, m.batch)] for h in hosts], axis=0)
            plain = np.array(_signed(private, m.residual), dtype=object) - total  # u_g/4 - y/2
            leaked = m.residual.bound - len(hosts) * quarter_bound
            revealed.append(leaked == max(abs(int(v)) for v in plain))
    assert revealed
    assert not any(revealed), f"{sum(revealed)} of {len(revealed)} bounds are max|u_g/4 - y/2|"


def test_arbiter_mode_cross_bound_hides_the_host_scores(arbiter: Run) -> None:
    private = _arbiter_private_key(arbiter)
    forwards = _forwards(arbiter, private)
    revealed = []
    for w in arbiter.wire:
        if isinstance(w.message, LrCross):
            m = w.message
            index = [h.name for h in arbiter.job.hosts].index(w.sender)
            (prefix_bound,) = encode_array(
                np.array([MAX_SAMPLE_WEIGHT * index * SCORE_BOUND / 4]), ENCRYPTION_EXPONENT
            )
            quarters = forwards[(w.sender, m.round, m.batch)]
            # sum_i |u_i| at the factor resolution 2**-16, from u/4 at 2**-32
            shift = 2 ** (4 * (FACTOR_EXPONENT - ENCRYPTION_EXPONENT) - 2)
            l1 = sum(abs(round(q / shift)) for q in quarters)
            leaked = m.cross.bound // prefix_bound
            revealed.append(abs(leaked - l1) <= len(quarters))
    assert revealed
    assert not any(revealed), f"{sum(revealed)} of {len(revealed)} bounds are sum|u_h|"


# the auditor has teeth: planted leaks are found -----------------------------------------------
def _plant(run: Run, index: int, message: Any) -> Audit:
    wire = list(run.wire)
    wire[index] = dataclasses.replace(wire[index], frame=codec.encode(message), message=message)
    return Audit(run.job, wire, run.audit.secrets)


def _first(run: Run, kind: type, **header: str) -> int:
    return next(
        i
        for i, w in enumerate(run.wire)
        if isinstance(w.message, kind) and all(getattr(w, k) == v for k, v in header.items())
    )


def test_the_auditor_finds_planted_leaks(two_party: Run) -> None:
    run = two_party
    audit = run.audit
    guest, host = run.job.guest.name, run.job.hosts[0].name
    ids = audit.truth.parties[guest].ids
    aligned = audit.truth.parties[guest].aligned
    assert aligned is not None and aligned.labels is not None

    # an id in a string; a host feature as a float; the labels as an array
    i = _first(run, PsiSetup)
    planted = _plant(run, i, dataclasses.replace(run.wire[i].message, method=ids[3].decode()))
    assert any("raw id" in p for p in planted.check_plaintext())
    i = _first(run, LrEpochEnd)
    feature = sorted(distinctive(audit.truth.parties[host].raw.ravel().tolist()))[7]
    planted = _plant(run, i, dataclasses.replace(run.wire[i].message, weight_change=feature))
    assert any("feature value" in p for p in planted.check_plaintext())
    labels = aligned.labels.astype(np.float64)
    planted = _plant(run, i, dataclasses.replace(run.wire[i].message, validation_scores=labels))
    problems = planted.check_plaintext()
    assert any("labels of the aligned rows as float64" in p for p in problems)
    assert any("label-like" in p for p in problems)

    # a hash-to-curve point of an id among the guest's PSI items
    i = _first(run, PsiGuestItems)
    message = run.wire[i].message
    (salt,) = {w.message.salt for w in run.wire if isinstance(w.message, PsiSetup)}
    point = hash_to_x25519(ids[0], ecdh_dst(salt))
    planted = _plant(run, i, dataclasses.replace(message, items=point + message.items[32:]))
    assert planted.check_psi_items() and any("H(" in p for p in planted.check_plaintext())

    # a residual under the host's own key; a trivial ciphertext; a repeated message
    i = _first(run, LrResidual)
    message = run.wire[i].message
    host_key = audit.keys[(1, host)]
    wrong = host_key.encrypt_vector(np.zeros(len(message.residual)))
    planted = _plant(run, i, dataclasses.replace(message, residual=wrong))
    problems = planted.check_ciphertexts()
    assert any(f"not {guest}'s announced key" in p for p in problems)
    assert any("receiver holds the key" in p for p in problems)
    key = message.residual.public_key
    ciphertexts = message.residual.ciphertexts
    ciphertexts[0] = (1 + 5 * key.n) % key.nsquare
    trivial = EncryptedVector(key, ciphertexts, message.residual.exponent, message.residual.bound)
    planted = _plant(run, i, dataclasses.replace(message, residual=trivial))
    assert any("trivial ciphertext" in p for p in planted.check_ciphertexts())
    repeated = Audit(run.job, [*run.wire, run.wire[i]], audit.secrets)
    problems = repeated.check_ciphertexts()
    assert any("already sent" in p for p in problems)
    assert any("obfuscator already used" in p for p in problems)

    # an unmasked gradient for the key owner
    i = _first(run, LrMasked, sender=guest)
    message = run.wire[i].message
    unmasked = host_key.encrypt_vector(np.full(len(message.gradient), 0.25))
    fake = MaskedVector(host_key, list(unmasked._ciphertexts))
    problems = _plant(run, i, dataclasses.replace(message, gradient=fake)).check_masking()
    assert any("near 0 or n" in p for p in problems)
    assert any("not made by mask_vector" in p for p in problems)

    # a message on an undeclared route
    i = _first(run, LrForward)
    message = dataclasses.replace(run.wire[i].message, sender=guest, receiver=host)
    wire = [*run.wire, Wire(1, guest, host, codec.encode(message), message)]
    problems = Audit(run.job, wire, audit.secrets).check_declared()
    assert any("undeclared route" in p for p in problems)
