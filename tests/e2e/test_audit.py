"""Audit every message of whole PSI + training + scoring jobs (issue 7).

Both example jobs (two-party; arbiter with two hosts) run end to end, in one process
(``simulate_job`` with a transcript recorder) and as real ``vfl run`` processes over
mutual TLS writing ``--transcript`` files.  :mod:`tests.support.auditor` checks every message
against the declared leakage table (SECURITY.md §9 to §11): declared kinds and routes
only; no plaintext id, id hash, hash-to-curve point, feature or label; every
ciphertext under the declared owner's announced key; everything a key owner decrypts
for someone else uniformly masked; no ciphertext or obfuscator ever repeated; every
masked gradient packed with the layout public values alone give (its ciphertext count
never depends on the data); ``LrEpochEnd`` carrying a weight-change norm only with
``convergence = "weights"`` and validation scores only with early stopping.

A secure-sum job of a guest and three hosts (in one process and as `vfl run`
processes) is audited too: the ring order, every partial decrypting to the prefix
sum under the public bound, and a fresh obfuscator at every hop, including the hop
between two contributors (their neighbours could otherwise divide out a vector).

A KKRT-PSI job (the same parties and data, one PSI step; output ``both`` in one
process, ``guest`` as `vfl run` processes) is audited too: the same table and plaintext
checks, plus exact message sizes, valid distinct base-OT points, uniform OT-extension
columns, and host values that match a value the guest can compute only for the ids it
holds; no code word ``C(id, h)``, no guest ``t`` row or PRF value ``H(j, t[j])``, and no
``F(j, id)`` the host could evaluate itself reaches a host.

A VOLE-PSI job (one PSI step; one host and two hosts, in one process and as `vfl run`
processes, outputs ``both`` and ``guest``) is audited the same way: exact message
sequences and sizes, uniform never-repeating VOLE corrections and OKVS cells, and from
the recorded VOLEs and OKVS the correlation ``B = C + A Delta``, cells that are exactly
``A + P``, and host tags that match a guest tag only for common ids; no ``H(x)``, OKVS
cell of ``P``, guest tag or ``Delta`` reaches anyone it must not.

Shared mode (SECURITY.md §12; the job files' default) is audited with a guest and one
host and with a guest, the partner host and another host, in one process and as `vfl
run` processes: the same table (per ``purpose`` and host position) and plaintext and
ciphertext checks, every sealed value ``x + R`` with R the sender's mask of at least
``b + 40`` bits for its public bound ``b``, every plain share a mask or an output share,
and an exact replay of the shared arithmetic (weight shares, scores, powers, sigmoid,
residual shares, gradients, the model files' weights).  The example jobs of the other
modes name their mode (``mode = "two-party"`` / ``"arbiter"``).

The secrets the audit needs (private keys, PSI scalars, masks, KKRT's OPRF states, the
shared-mode seals and initial splits) are recorded by wrapping the real functions that
make them; the engine runs unchanged.
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
    LrSetup,
    LrSharePlain,
    LrShareSealed,
    MessageKind,
    PsiGuestItems,
    PsiHostItems,
    PsiOkvsCells,
    PsiOtColumns,
    PsiOtReceiverPoints,
    PsiSetup,
    PsiVoleCorrections,
    SumPartial,
    payload_fields,
    unzigzag,
    zigzag,
)
from protocols.psi.vole_items import TAG_BYTES
from tests.support import auditor
from tests.support.auditor import (
    DECLARED,
    FORMS,
    LR,
    Audit,
    SecretLog,
    Wire,
    distinctive,
    pair_transcripts,
    prepare_example,
    prepare_psi_job,
    prepare_secure_sum_job,
    prepare_shared_job,
    record_secrets,
    recorder_entries,
)
from tests.support.job_files import free_ports
from vfl.certs import create_job_certificates
from vfl.jobs import simulate_job
from vfl.jobs.jobfile import JobConfig, load_job
from vfl.runtime import codec
from vfl.runtime.transcript import TranscriptRecorder, read_transcript

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
    job = load_job(prepare_example(EXAMPLES[mode], folder, max_iter=EPOCHS["simulated"], mode=mode))
    recorder = TranscriptRecorder()
    with record_secrets(SecretLog()) as secrets:
        simulate_job(job, recorder=recorder)
    wire = pair_transcripts(recorder_entries(recorder.entries))
    return Run(mode, job, wire, Audit(job, wire, secrets))


def _over_tls(folder: Path, mode: str) -> Run:
    """The job as real `vfl run` processes over mutual TLS, writing --transcript files.

    Each process is ``vfl.cli.main`` inside :func:`tests.support.auditor.main`, which records
    that party's secrets (keys, PSI scalars, masks) to a file for the audit.
    """
    example = EXAMPLES[mode]
    parties = 2 if mode == "two-party" else 4
    path = prepare_example(
        example, folder, max_iter=EPOCHS["tls"], ports=free_ports(parties), mode=mode
    )
    return _run_processes(folder, path, f"{mode} over TLS")


SHARED_EPOCHS = 2


def _shared(folder: Path, hosts: int, *, tls: bool) -> Run:
    """A shared-mode job (:func:`prepare_shared_job`): simulated, or as `vfl run`
    processes over mutual TLS.  With two hosts the rows carry balanced class weights,
    so the weighted protocol is audited too (one and two hosts, in one process and
    over TLS, without extra runs)."""
    name = f"shared with {hosts} host{'s' if hosts > 1 else ''}" + (" over TLS" if tls else "")
    ports = free_ports(1 + hosts) if tls else None
    class_weight = "balanced" if hosts == 2 else None
    path = prepare_shared_job(
        folder, hosts=hosts, max_iter=SHARED_EPOCHS, ports=ports, class_weight=class_weight
    )
    if tls:
        return _run_processes(folder, path, name)
    job = load_job(path)
    recorder = TranscriptRecorder()
    with record_secrets(SecretLog()) as secrets:
        simulate_job(job, recorder=recorder)
    wire = pair_transcripts(recorder_entries(recorder.entries))
    return Run(name, job, wire, Audit(job, wire, secrets))


def _run_processes(folder: Path, path: Path, name: str) -> Run:
    """Every party of the job at ``path`` as a `vfl run` process, audited."""
    job = load_job(path)
    create_job_certificates(folder / "certs", [p.name for p in job.parties])
    launcher = "from tests.support.auditor import main; raise SystemExit(main())"
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
    for party_name, process in processes.items():  # not `name`: the run's name
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, f"{party_name}: {stderr[-3000:]}"
    entries = [e for p in job.parties for e in read_transcript(folder / f"{p.name}.transcript")]
    wire = pair_transcripts(entries)
    secrets = SecretLog.load(sorted(folder.glob("*.secrets")))
    return Run(name, job, wire, Audit(job, wire, secrets))


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


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _shared(tmp_path_factory.mktemp("shared"), 1, tls=False)


@pytest.fixture(scope="module")
def shared_hosts(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _shared(tmp_path_factory.mktemp("shared-hosts"), 2, tls=False)


@pytest.fixture(scope="module")
def shared_tls(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _shared(tmp_path_factory.mktemp("shared-tls"), 1, tls=True)


@pytest.fixture(scope="module")
def shared_hosts_tls(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _shared(tmp_path_factory.mktemp("shared-hosts-tls"), 2, tls=True)


OLD_RUNS = ["two_party", "arbiter", "two_party_tls", "arbiter_tls"]
SHARED_RUNS = ["shared", "shared_hosts", "shared_tls", "shared_hosts_tls"]
RUNS = OLD_RUNS + SHARED_RUNS


@pytest.fixture(params=RUNS)
def run(request: pytest.FixtureRequest) -> Run:
    chosen: Run = request.getfixturevalue(request.param)
    return chosen


@pytest.fixture(params=OLD_RUNS)
def old_run(request: pytest.FixtureRequest) -> Run:
    """A run of the modes that reveal gradients to their owners (§11)."""
    chosen: Run = request.getfixturevalue(request.param)
    return chosen


@pytest.fixture(params=SHARED_RUNS)
def shared_run(request: pytest.FixtureRequest) -> Run:
    chosen: Run = request.getfixturevalue(request.param)
    return chosen


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


def test_security_md_shared_mode_routes_match_the_table_per_purpose() -> None:
    # §12's table, row by row: each purpose's routes with the partner host P and the
    # other hosts h told apart
    assert auditor.security_md_shared_gaps() == []
    documented = auditor.security_md_shared_routes()
    assert documented[("LrSharePlain", "scores")] == {("other-host", "partner")}
    assert documented[("LrSharePlain", "residual")] == {("partner", "other-host")}
    assert documented[("LrSharePowers", None)] == {("guest", "partner")}
    assert documented[("LrShareSealed", "sigmoid")] == {("partner", "guest")}
    # and the comparison has teeth: a route cell naming another host
    text = auditor.SECURITY_MD.read_text()
    row = "| `LrSharePowers` | guest → host (P) |"
    assert row in text
    wrong = text.replace(row, "| `LrSharePowers` | guest → every host |")
    assert auditor.security_md_shared_gaps(wrong) == [
        "LrSharePowers: SECURITY.md §12 has guest → other-host"
    ]


def test_security_md_spells_out_what_the_new_fields_reveal() -> None:
    # LrEpochEnd's norm and scores only under their stopping rules, LrHostSetup's
    # gradient_bits (the order of magnitude of the host's largest feature value)
    assert auditor.security_md_field_gaps() == []
    conditional = {
        (d.cls, f.name, f.only_with)
        for d in DECLARED.values()
        for r in d.routes
        for f in r.fields
        if f.only_with
    }
    assert conditional == {
        ("LrEpochEnd", "weight_change", 'convergence = "weights"'),
        ("LrEpochEnd", "validation_scores", "early stopping"),
    }
    # and the check has teeth
    text = auditor.SECURITY_MD.read_text().replace("`gradient_bits`", "the bits")
    assert auditor.security_md_field_gaps(text) == [
        "LrHostSetup.gradient_bits: no row of SECURITY.md says `gradient_bits`"
    ]


def test_the_security_md_parser_reads_every_table() -> None:
    documented = auditor.security_md_routes()
    assert documented[("LrPublicKey", "two-party")] == {("guest", "host"), ("host", "guest")}
    assert documented[("LrMasked", "arbiter")] == {("guest", "arbiter"), ("host", "arbiter")}
    assert documented[("LrEpochEnd", "arbiter")] == {("host", "guest")}
    assert documented[("SumPartial", None)] == {("host", "host"), ("host", "guest")}
    assert documented[("LrPartialScores", None)] == {("host", "guest")}
    assert documented[("PsiDone", None)] == {("guest", "host")}
    assert documented[("PsiOtSenderPoint", None)] == {("guest", "host")}
    assert documented[("PsiOtReceiverPoints", None)] == {("host", "guest")}
    assert documented[("PsiOtColumns", None)] == {("guest", "host")}
    assert documented[("LrShareSealed", "shared")] == {("guest", "host"), ("host", "guest")}
    assert documented[("LrSharePlain", "shared")] == {
        ("guest", "host"),
        ("host", "guest"),
        ("host", "host"),
    }
    assert ("LrEpochEnd", "shared") not in documented


# every run ------------------------------------------------------------------------------------
def test_every_frame_sent_is_received_unchanged(run: Run) -> None:
    # pair_transcripts asserted it per connection; here: the whole job is there
    kinds = {w.message.kind for w in run.wire}
    training = (
        MessageKind.LR_SHARE_SEALED if run.name.startswith("shared") else MessageKind.LR_MASKED
    )
    assert {MessageKind.PSI_SETUP, training, MessageKind.LR_PARTIAL_SCORES} <= kinds
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
    # all distinct, all checked; in shared mode with two hosts the guest sends the same
    # ciphertexts of its residual share to every host (declared: `broadcast`)
    copies = stats["broadcast copies"]
    assert copies == 0 or run.name.startswith("shared with 2")
    assert stats["obfuscators recovered"] == stats["ciphertexts"] - copies


def test_key_owners_decrypt_only_uniformly_masked_values(old_run: Run) -> None:
    run = old_run
    assert run.audit.check_masking() == []
    # 439 common rows in one batch of batch_size 220 (the remainder is spread): per
    # epoch the guest's 27 gradient values in 4 ciphertexts, its loss, and each host's
    # 4 values in one
    assert run.audit.stats["masked values decrypted"] >= 12


def test_the_guest_never_sees_a_training_partial_score(old_run: Run) -> None:
    assert old_run.audit.check_forward_truth() == []


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
    # every masked gradient: the ciphertexts of the layout public values give
    batches = {
        (w.message.round, w.message.batch) for w in run.wire if isinstance(w.message, LrMasked)
    }
    parties = 2 if name.startswith("two_party") else 3
    assert batches and run.audit.stats["packed gradients checked"] == parties * len(batches)


def test_epoch_ends_carry_only_what_the_stopping_rule_needs(old_run: Run) -> None:
    run = old_run
    # the examples converge on the loss without early stopping: no weight-change norm
    # and no validation score reaches the guest, and the auditor enforces it
    assert run.audit.check_conditional_fields() == []
    ends = [w.message for w in run.wire if isinstance(w.message, LrEpochEnd)]
    assert ends and run.audit.stats["conditional fields checked"] == 2 * len(ends)
    assert all(m.weight_change == 0.0 and m.validation_scores.shape == (0,) for m in ends)


def test_shared_mode_metadata_does_not_depend_on_the_data(shared_run: Run) -> None:
    assert shared_run.audit.check_metadata() == []
    assert shared_run.audit.check_conditional_fields() == []


# shared mode (§12) ----------------------------------------------------------------------------
def test_shared_runs_are_shared_and_the_old_runs_name_their_mode(run: Run) -> None:
    (setup,) = {w.message.mode for w in run.wire if isinstance(w.message, LrSetup)}
    expected = "shared" if run.name.startswith("shared") else run.name.split(" ")[0]
    assert setup == expected
    hosts = 2 if "2 hosts" in run.name else len(run.job.hosts)
    assert len(run.job.hosts) == hosts


def test_every_sealed_value_is_masked_for_its_public_bound(shared_run: Run) -> None:
    audit = shared_run.audit
    assert audit.check_shared_seals() == []
    assert audit.stats["sealed values opened"] > 1000
    assert audit.stats["masks drawn"] >= audit.stats["sealed values opened"]


def test_every_plain_share_is_a_mask_or_an_output_share(shared_run: Run) -> None:
    audit = shared_run.audit
    assert audit.check_shared_plain() == []
    kinds = {w.message.purpose for w in shared_run.wire if isinstance(w.message, LrSharePlain)}
    others = {"scores", "residual"} if len(shared_run.job.hosts) > 1 else set()
    assert kinds == {"initial", "loss", "final"} | others


def test_shared_arithmetic_replays_exactly_to_the_model_files(shared_run: Run) -> None:
    audit = shared_run.audit
    assert audit.check_shared_replay() == []
    parties = 1 + len(shared_run.job.hosts)
    stats = audit.stats
    assert stats["replayed partial scores"] == parties * stats["replayed sigmoid values"] > 0
    assert stats["replayed final weights"] == 31  # 26 + 4 features and the intercept
    assert stats["replayed gradient values"] == 31 * SHARED_EPOCHS


def _with_purpose(run: Run, kind: type, purpose: str, **header: str) -> tuple[int, Any]:
    """The first message of ``kind`` with ``purpose`` (and the header's sender/receiver)."""
    index = next(
        i
        for i, w in enumerate(run.wire)
        if isinstance(w.message, kind)
        and getattr(w.message, "purpose", None) == purpose
        and all(getattr(w, k) == v for k, v in header.items())
    )
    message: Any = run.wire[index].message
    return index, message


def test_the_auditor_finds_planted_shared_mode_leaks(shared_hosts: Run) -> None:
    run, audit = shared_hosts, shared_hosts.audit
    guest, partner, other = run.job.guest.name, run.job.hosts[0].name, run.job.hosts[1].name
    opened, _ = audit.opened_seals()

    # the other host sends P its true partial scores instead of its kept mask
    i, message = _with_purpose(run, LrSharePlain, "scores", sender=other)
    x, _ = opened[("scores", other, guest, message.round, message.batch)]
    planted = _plant(run, i, dataclasses.replace(message, shares=zigzag(x)))
    assert any("not the declared masks" in p for p in planted.check_shared_plain())

    # P's residual share to the other host is not a function of its mask alone (here
    # shifted by one unit: a residual x would be as visible)
    i, message = _with_purpose(run, LrSharePlain, "residual", sender=partner, receiver=other)
    shares = [v + 1 for v in unzigzag(message.shares)]
    planted = _plant(run, i, dataclasses.replace(message, shares=zigzag(shares)))
    assert any("'residual'" in p for p in planted.check_shared_plain())

    # G's sealed scores replaced by its sealed gradient (ciphertexts of another layout,
    # masked for another bound)
    i, message = _with_purpose(run, LrShareSealed, "scores", sender=guest)
    _, gradient = _with_purpose(run, LrShareSealed, "gradient", sender=guest)
    planted = _plant(run, i, dataclasses.replace(message, sealed=gradient.sealed))
    assert any("public layout" in p for p in planted.check_shared_seals())

    # a final share that is not the sender's share of the receiver's weights
    i, message = _with_purpose(run, LrSharePlain, "final", sender=guest, receiver=other)
    shares = [v + 1 for v in unzigzag(message.shares)]
    planted = _plant(run, i, dataclasses.replace(message, shares=zigzag(shares)))
    assert any("final share" in p for p in planted.check_shared_replay())

    # a plain share with a purpose no route declares
    i, message = _with_purpose(run, LrSharePlain, "scores", sender=other)
    planted = _plant(run, i, dataclasses.replace(message, purpose="gradient"))
    assert any("undeclared route" in p for p in planted.check_declared())


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

    # a weight-change norm or validation scores the stopping rule does not need
    end = run.wire[i].message
    for field, value in (("weight_change", 0.25), ("validation_scores", np.array([0.5, -1.5]))):
        planted = _plant(run, i, dataclasses.replace(end, **{field: value}))
        problems = planted.check_conditional_fields()
        assert len(problems) == 1 and "LR_EPOCH_END" in problems[0] and field in problems[0]

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

    # a gradient packed under a bound from the data: fewer ciphertexts than the public
    # layout (the count would tell the key owner about the features)
    width = len(audit.truth.training[guest][0])
    data_bound = host_key.encrypt_vector(np.zeros(width), max_abs=1.0).pack()
    masked, mask = data_bound.mask()
    audit.secrets.add_mask(masked, mask)
    problems = _plant(run, i, dataclasses.replace(message, gradient=masked)).check_metadata()
    assert any("the public layout needs" in p for p in problems)
    assert any("not the public layout" in p for p in problems)

    # a message on an undeclared route
    i = _first(run, LrForward)
    message = dataclasses.replace(run.wire[i].message, sender=guest, receiver=host)
    wire = [*run.wire, Wire(1, guest, host, codec.encode(message), message)]
    problems = Audit(run.job, wire, audit.secrets).check_declared()
    assert any("undeclared route" in p for p in problems)


# KKRT-PSI: a job of one PSI step, in one process and as `vfl run` processes --------------------
KKRT_CHUNK = 256
"""Three blocks of 256 bins for the guest's 500 ids (768 bins), two chunks of host values."""
KKRT_KINDS = {
    MessageKind.PSI_SETUP,
    MessageKind.PSI_HOST_SETUP,
    MessageKind.PSI_OT_SENDER,
    MessageKind.PSI_OT_RECEIVER,
    MessageKind.PSI_OT_COLUMNS,
    MessageKind.PSI_HOST_ITEMS,
}


@pytest.fixture(scope="module")
def kkrt(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """KKRT with output "both", simulated in one process."""
    folder = tmp_path_factory.mktemp("kkrt")
    job = load_job(prepare_psi_job(folder, method="kkrt", output="both", chunk_size=KKRT_CHUNK))
    recorder = TranscriptRecorder()
    with record_secrets(SecretLog()) as secrets:
        simulate_job(job, recorder=recorder)
    wire = pair_transcripts(recorder_entries(recorder.entries))
    return Run("kkrt", job, wire, Audit(job, wire, secrets))


@pytest.fixture(scope="module")
def kkrt_tls(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """KKRT with output "guest", as two `vfl run` processes over mutual TLS."""
    folder = tmp_path_factory.mktemp("kkrt-tls")
    path = prepare_psi_job(
        folder, method="kkrt", output="guest", chunk_size=KKRT_CHUNK, ports=free_ports(2)
    )
    return _run_processes(folder, path, "kkrt over TLS")


@pytest.fixture(params=["kkrt", "kkrt_tls"])
def kkrt_run(request: pytest.FixtureRequest) -> Run:
    return request.getfixturevalue(request.param)


def test_kkrt_messages_are_declared_and_every_kkrt_route_ran(kkrt_run: Run) -> None:
    audit = kkrt_run.audit
    assert audit.check_declared() == []
    assert audit.observed_routes() == audit.expected_routes()
    final = MessageKind.PSI_POSITIONS if kkrt_run.name == "kkrt" else MessageKind.PSI_DONE
    assert {w.message.kind for w in kkrt_run.wire} == KKRT_KINDS | {final}
    assert audit.check_public_fields() == []


def test_kkrt_messages_have_exactly_the_protocols_sizes(kkrt_run: Run) -> None:
    audit = kkrt_run.audit
    assert audit.check_kkrt_sizes() == []
    view = audit.kkrt
    assert view is not None and (view.bins, view.block) == (768, 256)
    assert audit.stats["kkrt messages checked"] == len(kkrt_run.wire) == 10


def test_kkrt_base_ot_points_are_valid_and_distinct(kkrt_run: Run) -> None:
    assert kkrt_run.audit.check_kkrt_points() == []
    assert kkrt_run.audit.stats["base-OT points checked"] == 1 + 2 * 512


def test_kkrt_columns_look_uniform_and_never_repeat(kkrt_run: Run) -> None:
    assert kkrt_run.audit.check_kkrt_columns() == []
    assert kkrt_run.audit.stats["OT-extension columns checked"] == 3 * 512


def test_kkrt_host_values_match_a_guest_value_only_for_common_ids(kkrt_run: Run) -> None:
    audit = kkrt_run.audit
    assert audit.check_kkrt_values() == []
    view = audit.kkrt
    assert view is not None
    guest, host = kkrt_run.job.guest.name, kkrt_run.job.hosts[0].name
    assert len(view.guest_values[guest]) == view.bins  # t rows of every bin were recorded
    assert len(view.host_rows[host]) == len(audit.truth.parties[host].ids)
    assert audit.stats["kkrt host values checked"] == 3 * len(audit.truth.parties[host].ids)


def test_kkrt_no_id_hash_code_word_or_prf_value_in_any_message(kkrt_run: Run) -> None:
    audit = kkrt_run.audit
    assert audit.check_plaintext() == []
    assert audit.check_psi_items() == []
    ids = len({i for p in audit.truth.parties.values() for i in p.ids})
    # per id: raw, 12 digests, 4 hash_to_field forms, H(id), 3 code words C(id, h) and
    # their 4 quarters each, its raw bins, F in its 3 bins; per bin: t[j] and H(j, t[j])
    assert audit.stats["id forms"] >= ids * (1 + 12 + 4 + 1 + 3 * 5 + 1 + 3) + 2 * 768
    assert audit.secrets.ecdh == {}  # base-OT keys are not PSI scalars


def test_the_auditor_finds_planted_kkrt_leaks(kkrt: Run) -> None:
    run, audit = kkrt, kkrt.audit
    view = audit.kkrt
    assert view is not None
    guest, host = run.job.guest.name, run.job.hosts[0].name

    # a code word C(x), a guest PRF value H(j, t[j]), a value F(j, y) the host can
    # evaluate itself: each found in the OT-extension columns
    i = _first(run, PsiOtColumns)
    message = run.wire[i].message
    columns = message.columns
    code = view.codes[5, 1].tobytes()
    value = sorted(view.guest_values[guest])[0]
    evaluable = sorted(view.host_values[host])[0]
    for planted_bytes, found in (
        (code, "the code word C("),
        (code[16:32], "[16:32]"),
        (value, "a PRF value H(j, t[j])"),
        (evaluable, f"which {host} can evaluate"),
    ):
        leaky = columns[:96] + planted_bytes + columns[96 + len(planted_bytes) :]
        planted = _plant(run, i, dataclasses.replace(message, columns=leaky))
        assert any(found in p for p in planted.check_plaintext()), found

    # columns of the wrong size; a block repeated; columns that are not uniform
    planted = _plant(run, i, dataclasses.replace(message, columns=columns[:-64]))
    assert any("differ from the protocol's" in p for p in planted.check_kkrt_sizes())
    second = _first(run, PsiOtColumns, sender=guest) + 1
    assert run.wire[second].message.batch == 1
    planted = _plant(run, second, dataclasses.replace(run.wire[second].message, columns=columns))
    assert any("repeats" in p for p in planted.check_kkrt_columns())
    planted = _plant(run, i, dataclasses.replace(message, columns=bytes(len(columns))))
    assert any("bits set" in p for p in planted.check_kkrt_columns())

    # base-OT points: a pair sent twice, a low-order point, the base point
    j = _first(run, PsiOtReceiverPoints)
    points = run.wire[j].message.points
    for bad, found in (
        (points[:64] + points[:64] + points[128:], "already sent"),
        (bytes(32) + points[32:], "low-order"),
        (points[:32] + (9).to_bytes(32, "little") + points[64:], "the base point"),
    ):
        planted = _plant(run, j, dataclasses.replace(run.wire[j].message, points=bad))
        assert any(found in p for p in planted.check_kkrt_points()), found

    # a host value of an id the guest does not hold that equals a guest PRF value
    k = _first(run, PsiHostItems)
    items = run.wire[k].message.items
    guest_ids = set(audit.truth.parties[guest].ids)
    rows = [items[r : r + 48] for r in range(0, len(items), 48)]
    row = next(r for r, data in enumerate(rows) if view.host_rows[host][data] not in guest_ids)
    forged = items[: 48 * row] + value + items[48 * row + 16 :]
    planted = _plant(run, k, dataclasses.replace(run.wire[k].message, items=forged))
    problems = planted.check_kkrt_values()
    assert any("which the guest does not hold, equals a PRF value" in p for p in problems)
    assert any("not exactly F(h_i(y), y)" in p for p in problems)

    # a message of the blinding methods in a KKRT step
    blinded = PsiGuestItems(job_id=message.job_id, sender=guest, receiver=host, items=code)
    wire = [*run.wire, Wire(0, guest, host, codec.encode(blinded), blinded)]
    problems = Audit(run.job, wire, audit.secrets).check_declared()
    assert any("in a PSI step of method 'kkrt'" in p for p in problems)


# VOLE-PSI: a job of one PSI step, in one process and as `vfl run` processes, one and two hosts ---
VOLE_CHUNK = 256
"""For the guest's 500 ids: 1512 OKVS cells in 6 chunks, 62,464 random OTs in 8 blocks of
8192 (the smallest OT block), one VOLE segment; 2 chunks of host tags."""
VOLE_KINDS = {
    MessageKind.PSI_SETUP,
    MessageKind.PSI_HOST_SETUP,
    MessageKind.PSI_OT_SENDER,
    MessageKind.PSI_OT_RECEIVER,
    MessageKind.PSI_OT_COLUMNS,
    MessageKind.PSI_VOLE_CORRECTIONS,
    MessageKind.PSI_OKVS_CELLS,
    MessageKind.PSI_HOST_ITEMS,
}
VOLE_RUNS = {  # fixture: (hosts, output, over TLS)
    "vole": (1, "both", False),
    "vole_hosts": (2, "guest", False),
    "vole_tls": (1, "guest", True),
    "vole_hosts_tls": (2, "both", True),
}


def _vole(folder: Path, name: str) -> Run:
    hosts, output, tls = VOLE_RUNS[name]
    ports = free_ports(1 + hosts) if tls else None
    path = prepare_psi_job(
        folder, method="vole", output=output, chunk_size=VOLE_CHUNK, ports=ports, hosts=hosts
    )
    if tls:
        return _run_processes(folder, path, name)
    job = load_job(path)
    recorder = TranscriptRecorder()
    with record_secrets(SecretLog()) as secrets:
        simulate_job(job, recorder=recorder)
    wire = pair_transcripts(recorder_entries(recorder.entries))
    return Run(name, job, wire, Audit(job, wire, secrets))


@pytest.fixture(scope="module")
def vole(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """VOLE with output "both", one host, simulated in one process."""
    return _vole(tmp_path_factory.mktemp("vole"), "vole")


@pytest.fixture(scope="module")
def vole_hosts(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """VOLE with output "guest", two hosts, simulated in one process."""
    return _vole(tmp_path_factory.mktemp("vole-hosts"), "vole_hosts")


@pytest.fixture(scope="module")
def vole_tls(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """VOLE with output "guest", one host, as `vfl run` processes over mutual TLS."""
    return _vole(tmp_path_factory.mktemp("vole-tls"), "vole_tls")


@pytest.fixture(scope="module")
def vole_hosts_tls(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """VOLE with output "both", two hosts, as `vfl run` processes over mutual TLS."""
    return _vole(tmp_path_factory.mktemp("vole-hosts-tls"), "vole_hosts_tls")


@pytest.fixture(params=list(VOLE_RUNS))
def vole_run(request: pytest.FixtureRequest) -> Run:
    chosen: Run = request.getfixturevalue(request.param)
    return chosen


def test_vole_messages_are_declared_and_every_vole_route_ran(vole_run: Run) -> None:
    audit = vole_run.audit
    assert audit.check_declared() == []
    assert audit.observed_routes() == audit.expected_routes()
    hosts, output, _ = VOLE_RUNS[vole_run.name]
    final = MessageKind.PSI_POSITIONS if output == "both" else MessageKind.PSI_DONE
    assert {w.message.kind for w in vole_run.wire} == VOLE_KINDS | {final}
    assert len(vole_run.job.hosts) == hosts
    assert audit.check_public_fields() == []


def test_vole_messages_have_exactly_the_protocols_sizes(vole_run: Run) -> None:
    audit = vole_run.audit
    assert audit.check_vole_sizes() == []
    view = audit.vole
    assert view is not None
    assert (view.cells, view.total, view.block) == (1576, 53248, 8192)
    assert view.sizes == [(400 * 5 * 32, 400 * 128 * 16, 400 * 16)]  # 400 trees of depth 5
    # per host: setup, point, 7 blocks, 7 OKVS chunks, the final message; setup,
    # points, 1 VOLE, 2 tag chunks
    hosts = len(vole_run.job.hosts)
    assert audit.stats["vole messages checked"] == len(vole_run.wire) == hosts * (17 + 5)


def test_vole_base_ot_points_and_columns_are_valid_distinct_and_uniform(vole_run: Run) -> None:
    audit = vole_run.audit
    hosts = len(vole_run.job.hosts)
    assert audit.check_kkrt_points() == []
    assert audit.stats["base-OT points checked"] == hosts * (1 + 2 * 512)
    assert audit.check_kkrt_columns() == []
    assert audit.stats["OT-extension columns checked"] == hosts * 7 * 512


def test_vole_corrections_and_cells_look_uniform_and_never_repeat(vole_run: Run) -> None:
    audit = vole_run.audit
    assert audit.check_vole_uniform() == []
    hosts = len(vole_run.job.hosts)
    per_host = 400 * 5 * 2 + 400 * 128 + 400 + 1576
    assert audit.stats["vole values checked"] == hosts * per_host


def test_vole_values_are_the_protocols_and_match_only_for_common_ids(vole_run: Run) -> None:
    audit = vole_run.audit
    assert audit.check_vole_values() == []
    assert audit.check_vole() == []
    view = audit.vole
    assert view is not None and view.table is not None
    assert set(view.links) == {h.name for h in vole_run.job.hosts}
    assert audit.stats["vole host tags checked"] == sum(
        len(audit.truth.parties[h.name].ids) for h in vole_run.job.hosts
    )


def test_vole_no_id_hash_okvs_cell_or_tag_in_any_message(vole_run: Run) -> None:
    audit = vole_run.audit
    assert audit.check_plaintext() == []
    assert audit.check_psi_items() == []
    ids = len({i for p in audit.truth.parties.values() for i in p.ids})
    guest = len(audit.truth.parties[vole_run.job.guest.name].ids)
    hosts = [len(audit.truth.parties[h.name].ids) for h in vole_run.job.hosts]
    # per id: raw, 12 digests, 4 hash_to_field forms, H(id); H(id) and its OKVS digest;
    # per host: Delta, Decode(C, x) and the tag of every guest id, its untagged values
    assert audit.stats["id forms"] >= ids * (1 + 12 + 4 + 1 + 2) + sum(
        1 + 2 * guest + h for h in hosts
    )
    assert audit.secrets.ecdh == {}  # base-OT keys are not PSI scalars


def test_the_auditor_finds_planted_vole_leaks(vole: Run) -> None:
    run, audit = vole, vole.audit
    view = audit.vole
    assert view is not None and view.table is not None
    guest, host = run.job.guest.name, run.job.hosts[0].name

    # the guest's OKVS P in the cells (A + P unmasked), an id's H(x), its tag
    i = _first(run, PsiOkvsCells)
    message = run.wire[i].message
    assert isinstance(message, PsiOkvsCells) and message.batch == 0
    table = view.table[:VOLE_CHUNK].tobytes()
    planted = _plant(run, i, dataclasses.replace(message, cells=table))
    assert any("the OKVS cells are not A + P" in p for p in planted.check_vole_values())
    assert any("the guest's OKVS cell P[" in p for p in planted.check_plaintext())
    x = sorted(audit.truth.parties[guest].ids)[3]
    for planted_bytes, found in (
        (view.values[x], f"H({x!r}) (VOLE)"),
        (view.digests[x], f"the OKVS digest of {x!r}"),
        (view.links[host].delta.to_bytes(16, "little"), f"{host}'s Delta"),
    ):
        leaky = message.cells[:32] + planted_bytes + message.cells[32 + len(planted_bytes) :]
        planted = _plant(run, i, dataclasses.replace(message, cells=leaky))
        assert any(found in p for p in planted.check_plaintext()), found

    # a chunk of the wrong size, a changed key, a repeated chunk, constant cells
    planted = _plant(run, i, dataclasses.replace(message, cells=message.cells[:-16]))
    assert any("differ from the protocol's" in p for p in planted.check_vole_sizes())
    planted = _plant(run, i, dataclasses.replace(message, key=bytes(range(16))))
    assert any("2 different OKVS keys" in p for p in planted.check_vole_sizes())
    second = _first(run, PsiOkvsCells) + 1
    following = run.wire[second].message
    assert isinstance(following, PsiOkvsCells) and following.batch == 1
    planted = _plant(run, second, dataclasses.replace(following, cells=message.cells))
    assert any("repeats" in p for p in planted.check_vole_uniform())
    planted = _plant(run, i, dataclasses.replace(message, cells=bytes(len(message.cells))))
    assert any("bits set" in p for p in planted.check_vole_uniform())

    # corrections: a field of the wrong size, unmasked (zero) tree sums
    j = _first(run, PsiVoleCorrections)
    corrections = run.wire[j].message
    assert isinstance(corrections, PsiVoleCorrections)
    short = dataclasses.replace(corrections, tree_sums=corrections.tree_sums[:-16])
    assert any("differ from the protocol's" in p for p in _plant(run, j, short).check_vole_sizes())
    zero = dataclasses.replace(corrections, tree_sums=bytes(len(corrections.tree_sums)))
    assert any("repeats" in p for p in _plant(run, j, zero).check_vole_uniform())

    # a host tag of an id the guest does not hold replaced by a tag the guest computes
    k = _first(run, PsiHostItems)
    host_items = run.wire[k].message
    assert isinstance(host_items, PsiHostItems)
    items = host_items.items
    guest_ids = set(audit.truth.parties[guest].ids)
    own = audit._vole_host_values(host)
    owner = {tag: y for y, (tag, _) in own.items()}
    rows = [items[r : r + TAG_BYTES] for r in range(0, len(items), TAG_BYTES)]
    row = next(r for r, tag in enumerate(rows) if owner[tag] not in guest_ids)
    guest_tag = next(
        tag for x, tag, _ in audit._vole_guest_values(host) if x not in set(owner.values())
    )
    forged = items[: TAG_BYTES * row] + guest_tag + items[TAG_BYTES * (row + 1) :]
    problems = _plant(run, k, dataclasses.replace(host_items, items=forged)).check_vole_values()
    assert any("not exactly the tags of its ids" in p for p in problems)
    assert any("tags match one the guest can compute" in p for p in problems)

    # a message of KKRT or the blinding methods in a VOLE step, and the reverse
    blinded = PsiGuestItems(job_id=message.job_id, sender=guest, receiver=host, items=table)
    wire = [*run.wire, Wire(0, guest, host, codec.encode(blinded), blinded)]
    problems = Audit(run.job, wire, audit.secrets).check_declared()
    assert any("in a PSI step of method 'vole'" in p for p in problems)


def test_vole_messages_are_refused_in_a_kkrt_step(kkrt: Run, vole: Run) -> None:
    guest, host = kkrt.job.guest.name, kkrt.job.hosts[0].name
    cells = vole.wire[_first(vole, PsiOkvsCells)].message
    assert isinstance(cells, PsiOkvsCells)
    moved = dataclasses.replace(cells, job_id=kkrt.wire[0].message.job_id)
    wire = [*kkrt.wire, Wire(0, guest, host, codec.encode(moved), moved)]
    problems = Audit(kkrt.job, wire, kkrt.audit.secrets).check_declared()
    assert any("in a PSI step of method 'kkrt'" in p for p in problems)


# secure sum: a guest and three hosts, in one process and as `vfl run` processes ----------------
SUM_HOSTS = 3


@pytest.fixture(scope="module")
def secure_sum(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("secure-sum")
    job = load_job(prepare_secure_sum_job(folder, hosts=SUM_HOSTS))
    recorder = TranscriptRecorder()
    with record_secrets(SecretLog()) as secrets:
        simulate_job(job, recorder=recorder)
    wire = pair_transcripts(recorder_entries(recorder.entries))
    return Run("secure sum", job, wire, Audit(job, wire, secrets))


@pytest.fixture(scope="module")
def secure_sum_tls(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("secure-sum-tls")
    path = prepare_secure_sum_job(folder, hosts=SUM_HOSTS, ports=free_ports(1 + SUM_HOSTS))
    return _run_processes(folder, path, "secure sum over TLS")


@pytest.fixture(params=["secure_sum", "secure_sum_tls"])
def sum_run(request: pytest.FixtureRequest) -> Run:
    return request.getfixturevalue(request.param)


def test_secure_sum_messages_are_declared_and_reveal_only_what_is_declared(sum_run: Run) -> None:
    audit = sum_run.audit
    assert audit.check_declared() == []
    assert audit.observed_routes() == audit.expected_routes()
    assert {w.step for w in sum_run.wire} == {0, 1}
    assert audit.check_public_fields() == []  # the key, the counters, the exact totals
    assert audit.check_plaintext() == []
    assert audit.check_psi_items() == []


def test_secure_sum_ciphertexts_never_repeat_an_obfuscator(sum_run: Run) -> None:
    audit = sum_run.audit
    assert audit.check_ciphertexts() == []
    partials = [w.message for w in sum_run.wire if isinstance(w.message, SumPartial)]
    assert len(partials) == SUM_HOSTS
    assert audit.stats["ciphertexts"] == SUM_HOSTS * len(partials[0].partial) > 0
    assert audit.stats["obfuscators recovered"] == audit.stats["ciphertexts"]


def test_every_secure_sum_hop_is_re_randomised(sum_run: Run) -> None:
    audit = sum_run.audit
    assert audit.check_secure_sum() == []
    # c_1 -> c_2 and c_2 -> c_3 between contributors, c_3 -> the guest: each after an
    # addition except the first, so SUM_HOSTS - 1 hops whose division could leak
    assert audit.stats["secure-sum hops checked"] == SUM_HOSTS - 1
    between = [
        w
        for w in sum_run.wire
        if isinstance(w.message, SumPartial) and w.receiver != sum_run.job.guest.name
    ]
    assert len(between) == SUM_HOSTS - 1


def test_secure_sum_partials_claim_only_the_public_bound(sum_run: Run) -> None:
    # Found by this auditor: `partial + values` raised the bound by the contributor's
    # largest value, which the next party read in the clear; every partial now claims
    # the public (i + 1) * max_abs.
    problems = sum_run.audit.check_secure_sum_bounds()
    assert problems == []


def test_the_auditor_finds_a_secure_sum_hop_that_is_not_re_randomised(secure_sum: Run) -> None:
    """c_2 adds its vector to what c_1 sent and passes it on without a fresh obfuscator
    (the engine before the fix): c_1 and c_3 could divide and read ``1 + v n``."""
    run, audit = secure_sum, secure_sum.audit
    ring = [h.name for h in run.job.hosts]
    incoming = run.wire[_first(run, SumPartial, sender=ring[0])].message
    i = _first(run, SumPartial, sender=ring[1])
    message = run.wire[i].message
    reused = (
        EncryptedVector(
            incoming.partial.public_key,
            incoming.partial.ciphertexts,
            incoming.partial.exponent,
            message.partial.bound,
        )
        + audit.truth.sums[ring[1]]
    )
    planted = _plant(run, i, dataclasses.replace(message, partial=reused))
    problems = planted.check_secure_sum()
    assert problems and all("not re-randomised" in p for p in problems)
    assert len(problems) == len(message.partial)  # every value of c_2's vector
    problems = planted.check_ciphertexts()
    assert any("obfuscator already used" in p for p in problems)
    # and a partial that is not the prefix sum is found too
    wrong = message.partial + np.ones(len(message.partial))
    problems = _plant(run, i, dataclasses.replace(message, partial=wrong)).check_secure_sum()
    assert any("does not decrypt to the prefix sum" in p for p in problems)
