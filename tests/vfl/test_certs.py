"""Job certificates: files, permissions, X.509 contents and refusals."""

from __future__ import annotations

import builtins
import datetime as dt
import functools
import hashlib
import io
import ipaddress
import os
import shutil
import ssl
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import vfl.certs as certs_module
from vfl.certs import (
    CertificateAuthority,
    PartyCredentials,
    certificate_names,
    create_ca,
    create_certificate_request,
    create_job_ca,
    create_job_certificates,
    fingerprint,
    issue_certificate,
    locate_ca,
    sign_certificate_request,
    validate_party_name,
)
from vfl.exceptions import CertificateError
from vfl.runtime.transport.tls import TlsTransport

PARTIES = ["bank-a", "bank-b", "arbiter"]


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def job(tmp_path: Path) -> dict[str, PartyCredentials]:
    return create_job_certificates(tmp_path / "certs", PARTIES)


def test_files_are_written(job: dict[str, PartyCredentials], tmp_path: Path) -> None:
    out = tmp_path / "certs"
    expected = {"ca.crt", "ca.key"} | {f"{p}.{e}" for p in PARTIES for e in ("crt", "key")}
    assert {p.name for p in out.iterdir()} == expected  # no temporary files left behind
    assert list(job) == PARTIES
    for name, creds in job.items():
        assert creds == PartyCredentials(out / f"{name}.crt", out / f"{name}.key", out / "ca.crt")


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_private_keys_are_private(job: dict[str, PartyCredentials], tmp_path: Path) -> None:
    assert mode(tmp_path / "certs" / "ca.key") == 0o600
    for creds in job.values():
        assert mode(creds.private_key) == 0o600
        assert mode(creds.certificate) & 0o022 == 0
    assert mode(tmp_path / "certs" / "ca.crt") & 0o022 == 0


def test_ca_certificate(job: dict[str, PartyCredentials]) -> None:
    ca = load_cert(job["bank-a"].ca)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    assert ca.subject == ca.issuer
    ca.verify_directly_issued_by(ca)
    public_key = ca.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert public_key.curve.name == "secp256r1"


@pytest.mark.parametrize("name", PARTIES)
def test_party_certificate(job: dict[str, PartyCredentials], name: str) -> None:
    creds = job[name]
    cert, ca = load_cert(creds.certificate), load_cert(creds.ca)
    cert.verify_directly_issued_by(ca)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [name]
    assert len(list(san)) == 1
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_after_utc <= ca.not_valid_after_utc
    key = serialization.load_pem_private_key(creds.private_key.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == "secp256r1"
    assert key.public_key() == cert.public_key()
    assert certificate_names(creds.certificate) == [name]


def test_files_load_into_ssl(job: dict[str, PartyCredentials]) -> None:
    creds = job["bank-a"]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(creds.certificate, creds.private_key)
    context.load_verify_locations(creds.ca)


def test_other_parties_certificates_are_distinct(job: dict[str, PartyCredentials]) -> None:
    keys = {job[p].private_key.read_bytes() for p in PARTIES}
    assert len(keys) == len(PARTIES)


@pytest.mark.parametrize(
    "name", ["", "Bank", "1bank", "-bank", "bank_a", "bank.a", "a" * 64, "../x", "ca", "bänk"]
)
def test_bad_names_are_refused_before_writing(tmp_path: Path, name: str) -> None:
    with pytest.raises(CertificateError, match="party name"):
        create_job_certificates(tmp_path, ["good", name])
    assert list(tmp_path.iterdir()) == []


def test_valid_names() -> None:
    for name in ["a", "bank-a", "a" * 63, "x9-"]:
        assert validate_party_name(name) == name


def test_duplicates_and_empty_lists_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match="duplicate party names: a"):
        create_job_certificates(tmp_path, ["a", "b", "a"])
    with pytest.raises(CertificateError, match="no parties"):
        create_job_certificates(tmp_path, [])
    with pytest.raises(CertificateError, match="not one string"):
        create_job_certificates(tmp_path, "alice")
    with pytest.raises(CertificateError, match="days"):
        create_job_certificates(tmp_path, ["a"], days=0)
    assert list(tmp_path.iterdir()) == []


def test_existing_files_are_not_overwritten(tmp_path: Path) -> None:
    create_job_certificates(tmp_path, ["alice", "bob"])
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(CertificateError, match="refusing to overwrite"):
        create_job_certificates(tmp_path, ["alice", "bob"])
    with pytest.raises(CertificateError, match=r"bob\.crt"):
        create_job_certificates(tmp_path, ["carol", "bob"])  # one clash: nothing written
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_overwrite_replaces_everything(tmp_path: Path) -> None:
    create_job_certificates(tmp_path, ["alice"])
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    create_job_certificates(tmp_path, ["alice"], overwrite=True)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after.keys() == before.keys()
    assert all(after[name] != before[name] for name in before)
    if os.name != "nt":
        assert mode(tmp_path / "alice.key") == 0o600


def test_foreign_ca_and_arbitrary_names(tmp_path: Path) -> None:
    job = create_job_certificates(tmp_path / "job", ["alice"])
    foreign = create_ca(tmp_path / "foreign", common_name="someone else")
    assert isinstance(foreign, CertificateAuthority)
    impostor = issue_certificate(foreign, tmp_path / "foreign", "alice", ca_file=job["alice"].ca)
    assert impostor.ca == job["alice"].ca
    assert certificate_names(impostor.certificate) == ["alice"]
    cert = load_cert(impostor.certificate)
    cert.verify_directly_issued_by(load_cert(foreign.certificate))
    with pytest.raises(ValueError):
        cert.verify_directly_issued_by(load_cert(job["alice"].ca))

    two = issue_certificate(foreign, tmp_path / "foreign", "two", dns_names=["alice", "bob"])
    assert certificate_names(two.certificate) == ["alice", "bob"]
    none = issue_certificate(foreign, tmp_path / "foreign", "none", dns_names=[])
    assert certificate_names(none.certificate) == []


def test_unreadable_files_raise_certificate_error(tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match="cannot read certificate"):
        certificate_names(tmp_path / "missing.crt")
    (tmp_path / "junk.crt").write_text("not a certificate")
    with pytest.raises(CertificateError):
        certificate_names(tmp_path / "junk.crt")
    broken = CertificateAuthority(tmp_path / "junk.crt", tmp_path / "junk.key")
    with pytest.raises(CertificateError, match="cannot read CA"):
        issue_certificate(broken, tmp_path, "alice")


# the certificate-request flow: no private key leaves its party's machine --------------------
LOCALHOST = "127.0.0.1"
WAIT = 20.0


def make_request(
    path: Path,
    *,
    subject: str | None = "bank-a",
    sans: list[x509.GeneralName] | None = None,
    extensions: list[x509.ExtensionType] | None = None,
    key: Any = None,
) -> Path:
    """A hand-made request (what a careless or hostile party could send)."""
    key = key if key is not None else ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)] if subject else [])
    )
    sans = [x509.DNSName("bank-a")] if sans is None else sans
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    for extension in extensions or []:
        builder = builder.add_extension(extension, critical=True)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    request = builder.sign(key, algorithm)
    path.write_bytes(request.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture
def operator(tmp_path: Path) -> CertificateAuthority:
    """The CA operator's machine: only the job CA."""
    return create_job_ca(tmp_path / "operator")


def request_and_sign(
    tmp_path: Path, ca: CertificateAuthority, name: str, /, **kwargs: Any
) -> PartyCredentials:
    """The whole flow for one party: its machine makes key and request; the operator signs.

    Only the .csr travels to the operator, and only the .crt and ca.crt travel back.
    """
    home = tmp_path / name  # the party's machine
    key, request = create_certificate_request(home, name)
    inbox = tmp_path / "operator" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    received = inbox / request.name
    shutil.copyfile(request, received)
    signed = sign_certificate_request(ca, received, inbox, **kwargs)
    shutil.copyfile(signed, home / signed.name)
    shutil.copyfile(ca.certificate, home / "ca.crt")
    return PartyCredentials(home / signed.name, key, home / "ca.crt")


def test_job_ca_alone(operator: CertificateAuthority, tmp_path: Path) -> None:
    assert {p.name for p in (tmp_path / "operator").iterdir()} == {"ca.crt", "ca.key"}
    assert operator == CertificateAuthority(
        tmp_path / "operator" / "ca.crt", tmp_path / "operator" / "ca.key"
    )
    if os.name != "nt":
        assert mode(operator.private_key) == 0o600
    assert (
        load_cert(operator.certificate)
        .extensions.get_extension_for_class(x509.BasicConstraints)
        .value.ca
    )
    with pytest.raises(CertificateError, match="refusing to overwrite"):
        create_job_ca(tmp_path / "operator")


def test_request_files(tmp_path: Path) -> None:
    key_path, request_path = create_certificate_request(tmp_path / "bank-a", "bank-a")
    assert (key_path, request_path) == (
        tmp_path / "bank-a" / "bank-a.key",
        tmp_path / "bank-a" / "bank-a.csr",
    )
    assert {p.name for p in (tmp_path / "bank-a").iterdir()} == {"bank-a.key", "bank-a.csr"}
    if os.name != "nt":
        assert mode(key_path) == 0o600
        assert mode(request_path) & 0o022 == 0
    request = x509.load_pem_x509_csr(request_path.read_bytes())
    assert request.is_signature_valid
    assert request.subject.rfc4514_string() == "CN=bank-a"
    (extension,) = request.extensions
    assert isinstance(extension.value, x509.SubjectAlternativeName)
    assert list(extension.value) == [x509.DNSName("bank-a")]
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert key.public_key() == request.public_key()
    assert b"PRIVATE KEY" not in request_path.read_bytes()


def test_request_never_overwrites_a_key_without_overwrite(tmp_path: Path) -> None:
    key_path, request_path = create_certificate_request(tmp_path, "bank-a")
    key_before, request_before = key_path.read_bytes(), request_path.read_bytes()
    with pytest.raises(CertificateError, match=r"bank-a\.key already exists.*--overwrite"):
        create_certificate_request(tmp_path, "bank-a")
    key_path.unlink()
    request_path.write_bytes(request_before)
    with pytest.raises(CertificateError, match=r"refusing to overwrite.*bank-a\.csr"):
        create_certificate_request(tmp_path, "bank-a")  # nothing written: no key without its csr
    assert not key_path.exists()
    key_path.write_bytes(key_before)
    create_certificate_request(tmp_path, "bank-a", overwrite=True)
    assert key_path.read_bytes() != key_before and request_path.read_bytes() != request_before
    if os.name != "nt":
        assert mode(key_path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bank-a.csr", "bank-a.key"]


@pytest.mark.parametrize("name", ["Bank A", "ca", "bank_a", ""])
def test_request_refuses_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(CertificateError, match="party name"):
        create_certificate_request(tmp_path, name)
    assert list(tmp_path.iterdir()) == []


def test_signed_certificate_has_the_one_machine_profile(
    operator: CertificateAuthority, tmp_path: Path
) -> None:
    signed = request_and_sign(tmp_path, operator, "bank-a", days=30)
    reference = issue_certificate(operator, tmp_path / "reference", "bank-b", days=30)
    cert, ref = load_cert(signed.certificate), load_cert(reference.certificate)
    ca = load_cert(operator.certificate)
    cert.verify_directly_issued_by(ca)
    assert cert.issuer == ref.issuer == ca.subject
    assert cert.subject.rfc4514_string() == "CN=bank-a"
    assert [(e.oid, e.critical) for e in cert.extensions] == [
        (e.oid, e.critical) for e in ref.extensions
    ]
    for kind in (x509.BasicConstraints, x509.KeyUsage, x509.ExtendedKeyUsage):
        assert (
            cert.extensions.get_extension_for_class(kind).value
            == ref.extensions.get_extension_for_class(kind).value
        )
    assert (
        cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        == ref.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    )
    key = serialization.load_pem_private_key(signed.private_key.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert cert.public_key() == key.public_key()
    assert cert.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier
    ).value == x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == pytest.approx(
        ref.not_valid_after_utc - ref.not_valid_before_utc, abs=dt.timedelta(seconds=5)
    )
    assert certificate_names(signed.certificate) == ["bank-a"]
    if os.name != "nt":
        assert mode(signed.certificate) & 0o022 == 0


def test_request_flow_parties_talk_mutual_tls(
    operator: CertificateAuthority, tmp_path: Path
) -> None:
    creds = {
        name: request_and_sign(
            tmp_path,
            operator,
            name,
            party=name,
            allowed_parties=["bank-a", "bank-b"],
            allowed_source="job.toml",
        )
        for name in ("bank-a", "bank-b")
    }
    shutil.rmtree(tmp_path / "operator")  # the CA's files are not needed to connect
    for name, party_creds in creds.items():
        assert certificate_names(party_creds.certificate) == [name]
        assert {p.name for p in party_creds.certificate.parent.iterdir()} == {
            f"{name}.key",
            f"{name}.csr",
            f"{name}.crt",
            "ca.crt",
        }

    def start(party: str, peer: str) -> TlsTransport:
        return TlsTransport(
            party,
            listen=(LOCALHOST, 0),
            peers={peer: (LOCALHOST, 9)},
            certificate=creds[party].certificate,
            private_key=creds[party].private_key,
            ca=creds[party].ca,
        )

    a = start("bank-a", "bank-b")
    b = start("bank-b", "bank-a")
    try:
        a.set_peer_address("bank-b", b.listen_address)
        b.set_peer_address("bank-a", a.listen_address)
        a.connect(["bank-b"], timeout=WAIT)
        b.connect(["bank-a"], timeout=WAIT)
        a.send("bank-b", b"hello from bank-a")
        assert b.receive(WAIT) == ("bank-a", b"hello from bank-a")
        b.send("bank-a", b"hello from bank-b")
        assert a.receive(WAIT) == ("bank-b", b"hello from bank-b")
    finally:
        a.close()
        b.close()


def test_sign_opens_no_key_but_the_cas(
    operator: CertificateAuthority, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, request = create_certificate_request(tmp_path / "bank-a", "bank-a")
    inbox = tmp_path / "operator"
    shutil.copyfile(request, inbox / "bank-a.csr")
    decoy = inbox / "bank-a.key"  # had a party key slipped into the CA's folder: never read
    decoy.write_bytes(b"not even a key")
    decoy.chmod(0)
    opened: list[str] = []
    real_io_open, real_os_open = io.open, os.open

    def io_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(os.fspath(file) if not isinstance(file, int) else f"fd {file}")
        return real_io_open(file, *args, **kwargs)

    def os_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(os.fspath(file))
        return real_os_open(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", io_open)
    monkeypatch.setattr(builtins, "open", io_open)
    monkeypatch.setattr(os, "open", os_open)
    signed = sign_certificate_request(inbox, inbox / "bank-a.csr", inbox)
    monkeypatch.undo()
    assert certificate_names(signed) == ["bank-a"]
    keys = {Path(p).name for p in opened if p.endswith(".key")}
    assert keys == {"ca.key"}, opened
    assert str(decoy) not in opened and str(tmp_path / "bank-a" / "bank-a.key") not in opened
    files = {Path(p).name for p in opened if not p.startswith("fd ")}
    read = {name for name in files if not name.startswith(".bank-a.crt.")}  # written, renamed
    assert read == {"ca.crt", "ca.key", "bank-a.csr"}, opened


def test_sign_refuses_a_private_key(operator: CertificateAuthority, tmp_path: Path) -> None:
    key, _ = create_certificate_request(tmp_path, "bank-a")
    with pytest.raises(CertificateError, match=r"refusing to read .*bank-a\.key.*never leave"):
        sign_certificate_request(operator, key, tmp_path)
    pasted = tmp_path / "bank-a.txt"
    pasted.write_bytes(key.read_bytes())
    with pytest.raises(CertificateError, match=r"holds a private key.*no longer private"):
        sign_certificate_request(operator, pasted, tmp_path)
    assert not (tmp_path / "bank-a.crt").exists()


def test_tampered_request_is_refused(operator: CertificateAuthority, tmp_path: Path) -> None:
    _, request_path = create_certificate_request(tmp_path, "bank-a")
    der = x509.load_pem_x509_csr(request_path.read_bytes()).public_bytes(serialization.Encoding.DER)
    at = der.rindex(b"bank-a")  # the subjectAltName, after the subject's CN
    renamed = der[:at] + b"bank-b" + der[at + 6 :]
    flipped = der[:-3] + bytes([der[-3] ^ 1]) + der[-2:]  # a bit of the signature
    for label, data in (("renamed", renamed), ("flipped", flipped)):
        tampered = tmp_path / f"{label}.csr"
        tampered.write_bytes(x509.load_der_x509_csr(data).public_bytes(serialization.Encoding.PEM))
        with pytest.raises(CertificateError, match=f"{label}.csr: the request's signature is"):
            sign_certificate_request(operator, tampered, tmp_path)
    assert not list(tmp_path.glob("*.crt"))


def test_request_for_a_name_not_in_the_job_is_refused(
    operator: CertificateAuthority, tmp_path: Path
) -> None:
    _, request = create_certificate_request(tmp_path, "bank-x")
    with pytest.raises(
        CertificateError, match=r"bank-x\.csr names 'bank-x', which is not a party of job\.toml"
    ):
        sign_certificate_request(
            operator,
            request,
            tmp_path,
            allowed_parties=("bank-a", "bank-b"),
            allowed_source="job.toml",
        )
    with pytest.raises(CertificateError, match=r"names 'bank-x', not 'bank-a'"):
        sign_certificate_request(operator, request, tmp_path, party="bank-a")
    assert not (tmp_path / "bank-x.crt").exists()
    signed = sign_certificate_request(
        operator, request, tmp_path / "bank-x.crt", party="bank-x", allowed_parties={"bank-x"}
    )
    assert certificate_names(signed) == ["bank-x"]


@pytest.mark.parametrize(
    ("sans", "subject", "match"),
    [
        ([x509.DNSName("bank-a"), x509.DNSName("bank-b")], "bank-a", "exactly one party"),
        ([], "bank-a", "exactly one party.*names none"),
        ([x509.IPAddress(ipaddress.ip_address("10.0.0.1"))], "bank-a", "exactly one party"),
        (
            [x509.DNSName("bank-a"), x509.RFC822Name("a@example.com")],
            "bank-a",
            "exactly one party",
        ),
        ([x509.DNSName("Bank_A")], "Bank_A", "invalid party name 'Bank_A'"),
        ([x509.DNSName("ca")], "ca", "reserved"),
        ([x509.DNSName("bank-a")], "bank-b", "its subject is 'CN=bank-b'"),
        ([x509.DNSName("bank-a")], None, "its subject is ''"),
    ],
)
def test_requests_naming_other_than_one_party_are_refused(
    operator: CertificateAuthority,
    tmp_path: Path,
    sans: list[x509.GeneralName],
    subject: str | None,
    match: str,
) -> None:
    request = make_request(tmp_path / "odd.csr", subject=subject, sans=sans)
    with pytest.raises(CertificateError, match=match):
        sign_certificate_request(operator, request, tmp_path / "odd.crt")
    assert not (tmp_path / "odd.crt").exists()


@pytest.mark.parametrize(
    ("extension", "match"),
    [
        (x509.BasicConstraints(ca=True, path_length=None), "BasicConstraints.*to be a CA"),
        (x509.BasicConstraints(ca=False, path_length=None), "BasicConstraints\\)\\. A party"),
        (
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            "KeyUsage.*to be a CA",
        ),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), "ExtendedKeyUsage"),
        (x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4"), b"\x05\x00"), "1.2.3.4"),
    ],
)
def test_requests_for_extensions_are_refused(
    operator: CertificateAuthority, tmp_path: Path, extension: x509.ExtensionType, match: str
) -> None:
    request = make_request(tmp_path / "greedy.csr", extensions=[extension])
    with pytest.raises(CertificateError, match=f"greedy.csr asks for extensions.*{match}"):
        sign_certificate_request(operator, request, tmp_path)
    assert not (tmp_path / "bank-a.crt").exists()


@pytest.mark.parametrize(
    ("make_key", "match"),
    [
        (lambda: rsa.generate_private_key(65537, 1024), "RSA-1024 key \\(weak\\)"),
        (lambda: rsa.generate_private_key(65537, 2048), "RSA-2048 key;"),
        (lambda: ec.generate_private_key(ec.SECP384R1()), "curve secp384r1"),
        (lambda: ed25519.Ed25519PrivateKey.generate(), "Ed25519"),
    ],
)
def test_requests_with_other_keys_are_refused(
    operator: CertificateAuthority, tmp_path: Path, make_key: Any, match: str
) -> None:
    request = make_request(tmp_path / "other.csr", key=make_key())
    with pytest.raises(CertificateError, match=f"other.csr carries .*{match}.*EC P-256"):
        sign_certificate_request(operator, request, tmp_path)
    assert not (tmp_path / "bank-a.crt").exists()


def test_request_with_the_cas_own_key_is_refused(
    operator: CertificateAuthority, tmp_path: Path
) -> None:
    ca_key = serialization.load_pem_private_key(operator.private_key.read_bytes(), password=None)
    request = make_request(tmp_path / "bank-a.csr", key=ca_key)
    with pytest.raises(CertificateError, match="the CA's own key"):
        sign_certificate_request(operator, request, tmp_path)


def test_sign_never_overwrites_without_overwrite(
    operator: CertificateAuthority, tmp_path: Path
) -> None:
    _, request = create_certificate_request(tmp_path, "bank-a")
    first = sign_certificate_request(operator, request, tmp_path)
    before = first.read_bytes()
    with pytest.raises(CertificateError, match=r"refusing to overwrite .*bank-a\.crt"):
        sign_certificate_request(operator, request, tmp_path)
    assert first.read_bytes() == before
    again = sign_certificate_request(operator, request, first, overwrite=True)
    assert again == first and first.read_bytes() != before


def test_expected_fingerprint(operator: CertificateAuthority, tmp_path: Path) -> None:
    _, request = create_certificate_request(tmp_path, "bank-a")
    value = fingerprint(request)
    assert len(value.split(":")) == 32
    other = fingerprint(create_certificate_request(tmp_path / "b", "bank-a")[1])
    with pytest.raises(CertificateError, match="not the request the party made"):
        sign_certificate_request(operator, request, tmp_path, expected_fingerprint=other)
    loose = value.replace(":", " ").lower()
    signed = sign_certificate_request(operator, request, tmp_path, expected_fingerprint=loose)
    assert certificate_names(signed) == ["bank-a"]
    # the certificate's fingerprint is the one openssl prints: SHA-256 of its DER form
    der = load_cert(signed).public_bytes(serialization.Encoding.DER)
    assert fingerprint(signed).replace(":", "").lower() == hashlib.sha256(der).hexdigest()


def test_der_requests_and_unreadable_ones(operator: CertificateAuthority, tmp_path: Path) -> None:
    _, request = create_certificate_request(tmp_path, "bank-a")
    der = tmp_path / "bank-a.der"
    der.write_bytes(
        x509.load_pem_x509_csr(request.read_bytes()).public_bytes(serialization.Encoding.DER)
    )
    assert fingerprint(der) == fingerprint(request)
    assert certificate_names(sign_certificate_request(operator, der, tmp_path)) == ["bank-a"]
    junk = tmp_path / "junk.csr"
    junk.write_text("-----BEGIN CERTIFICATE REQUEST-----\nnonsense\n")
    with pytest.raises(CertificateError, match="not a certificate request"):
        sign_certificate_request(operator, junk, tmp_path)
    with pytest.raises(CertificateError, match="cannot read certificate request"):
        sign_certificate_request(operator, tmp_path / "missing.csr", tmp_path)
    with pytest.raises(CertificateError, match="neither a certificate nor"):
        fingerprint(junk)


def test_locating_and_checking_the_ca(
    operator: CertificateAuthority, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = operator.certificate.parent
    assert locate_ca(folder) == locate_ca(operator.certificate) == operator
    moved = tmp_path / "vault" / "job.key"
    moved.parent.mkdir()
    operator.private_key.rename(moved)
    with pytest.raises(CertificateError, match=r"CA files not found: .*ca\.key"):
        locate_ca(folder)
    assert locate_ca(folder, key=moved) == CertificateAuthority(operator.certificate, moved)
    _, request = create_certificate_request(tmp_path / "bank-a", "bank-a")
    signed = sign_certificate_request(locate_ca(folder, key=moved), request, tmp_path)
    load_cert(signed).verify_directly_issued_by(load_cert(operator.certificate))

    other = create_job_ca(tmp_path / "other")
    mixed = CertificateAuthority(operator.certificate, other.private_key)
    with pytest.raises(CertificateError, match="does not belong to CA certificate"):
        sign_certificate_request(mixed, request, tmp_path / "mixed.crt")
    not_a_ca = CertificateAuthority(signed, tmp_path / "bank-a" / "bank-a.key")
    with pytest.raises(CertificateError, match="is not a CA certificate"):
        sign_certificate_request(not_a_ca, request, tmp_path / "x.crt")

    later = certs_module._now() + dt.timedelta(days=400)  # the CA is valid 365 days
    monkeypatch.setattr(certs_module, "_now", lambda: later)
    with pytest.raises(CertificateError, match=r"expired on .*make a new job CA"):
        sign_certificate_request(other, request, tmp_path / "late.crt")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_a_request_made_with_openssl_is_accepted(
    operator: CertificateAuthority, tmp_path: Path
) -> None:
    key, request = tmp_path / "bank-b.key", tmp_path / "bank-b.csr"
    run = functools.partial(subprocess.run, check=True, capture_output=True, timeout=60)
    run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)])
    subject = ["-subj", "/CN=bank-b", "-addext", "subjectAltName=DNS:bank-b"]
    run(["openssl", "req", "-new", "-key", str(key), *subject, "-out", str(request)])
    signed = sign_certificate_request(operator, request, tmp_path, party="bank-b")
    assert certificate_names(signed) == ["bank-b"]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(signed, key)
