"""Job certificates: files, permissions, X.509 contents and refusals."""

from __future__ import annotations

import os
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vfl.certs import (
    CertificateAuthority,
    PartyCredentials,
    certificate_names,
    create_ca,
    create_job_certificates,
    issue_certificate,
    validate_party_name,
)
from vfl.exceptions import CertificateError

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
