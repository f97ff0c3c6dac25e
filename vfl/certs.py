"""Certificates of a job: one job CA, and per party a certificate naming it.

A party's identity on the wire is the single DNS subjectAltName of its
certificate, issued by the job's own CA (and the CA is the only one trusted).

Two ways to make them:

- **Certificate requests** (real deployments; no private key leaves its party's
  machine): the CA operator runs :func:`create_job_ca`; each party runs
  :func:`create_certificate_request` on its own machine and sends only the
  request (``<party>.csr``); the operator checks it and issues the certificate with
  :func:`sign_certificate_request`, and sends back ``<party>.crt`` and ``ca.crt``.
- **One machine** (demos and tests): :func:`create_job_certificates` makes the CA
  and every party's key and certificate in one directory.

:func:`create_ca` and :func:`issue_certificate` are the building blocks (tests use
them to make a foreign CA, or certificates with other names).  Both ways issue the
same certificate profile.

Keys are EC P-256.  Files are PEM; private keys are written with mode 0600; every
file is written to a temporary file in the same directory and then renamed over
its final name, so it is never seen half-written.  Existing files are never
overwritten unless ``overwrite=True``.

Examples
--------
One machine:

>>> import tempfile
>>> from pathlib import Path
>>> with tempfile.TemporaryDirectory() as tmp:
...     creds = create_job_certificates(Path(tmp), ["bank-a", "bank-b"])
...     certificate_names(creds["bank-a"].certificate)
['bank-a']

With a certificate request, each directory standing for another machine:

>>> with tempfile.TemporaryDirectory() as tmp:
...     ca = create_job_ca(Path(tmp) / "operator")
...     key, request = create_certificate_request(Path(tmp) / "bank-a", "bank-a")
...     certificate = sign_certificate_request(ca, request, Path(tmp) / "operator")
...     certificate.name, certificate_names(certificate)
('bank-a.crt', ['bank-a'])
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from protocols.messages import PARTY_NAME_PATTERN
from vfl.exceptions import CertificateError

__all__ = [
    "PARTY_NAME_PATTERN",
    "CertificateAuthority",
    "PartyCredentials",
    "certificate_names",
    "create_ca",
    "create_certificate_request",
    "create_job_ca",
    "create_job_certificates",
    "fingerprint",
    "issue_certificate",
    "locate_ca",
    "sign_certificate_request",
    "validate_party_name",
]

# one definition of a valid party name, shared with the job files and the codec
"""Valid party names: DNS-safe labels (lowercase letter first, then letters, digits, '-')."""

_RESERVED_NAMES = frozenset({"ca"})  # ca.crt / ca.key hold the job CA
_CLOCK_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class PartyCredentials:
    """Where one party's TLS files are.

    Attributes
    ----------
    certificate : pathlib.Path
        The party's certificate (PEM).
    private_key : pathlib.Path
        Its private key (PEM, mode 0600).
    ca : pathlib.Path
        The job CA certificate every party trusts (PEM).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     creds = create_job_certificates(Path(tmp), ["bank-a"])["bank-a"]
    ...     creds.certificate.name, creds.private_key.name, creds.ca.name
    ('bank-a.crt', 'bank-a.key', 'ca.crt')
    """

    certificate: Path
    private_key: Path
    ca: Path


@dataclass(frozen=True)
class CertificateAuthority:
    """Where a CA's files are.

    Attributes
    ----------
    certificate : pathlib.Path
        The CA certificate (PEM).
    private_key : pathlib.Path
        The CA private key (PEM, mode 0600).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     ca = create_ca(Path(tmp), name="other-ca")
    ...     ca.certificate.name, oct(ca.private_key.stat().st_mode & 0o777)
    ('other-ca.crt', '0o600')
    """

    certificate: Path
    private_key: Path


def validate_party_name(name: str) -> str:
    """Return ``name`` if it is a valid party name, else raise CertificateError.

    Parameters
    ----------
    name : str
        A party name.

    Returns
    -------
    str
        ``name``, unchanged.

    Raises
    ------
    CertificateError
        If ``name`` is not 1-63 lowercase letters, digits or ``-`` starting with a
        letter, or is reserved (``ca``).

    Examples
    --------
    >>> validate_party_name("bank-a")
    'bank-a'
    >>> validate_party_name("Bank A")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vfl.exceptions.CertificateError: invalid party name 'Bank A': use 1-63 lowercase letters, ...
    """
    if not isinstance(name, str) or not PARTY_NAME_PATTERN.fullmatch(name):
        raise CertificateError(
            f"invalid party name {name!r}: use 1-63 lowercase letters, digits or '-', "
            "starting with a letter (it becomes the certificate's DNS name)"
        )
    if name in _RESERVED_NAMES:
        raise CertificateError(
            f"party name {name!r} is reserved (the job CA's files are {name}.crt and "
            f"{name}.key); choose another name"
        )
    return name


def _check_days(days: int) -> None:
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise CertificateError(f"days must be a positive int, got {days!r}")


def _write_atomic(path: Path, data: bytes, *, mode: int, overwrite: bool) -> None:
    """Write ``data`` to a temporary file next to ``path``, then rename it over ``path``."""
    if path.exists() and not overwrite:
        raise CertificateError(
            f"{path} already exists; refusing to overwrite it (--overwrite, overwrite=True)"
        )
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise CertificateError(f"cannot write in {path.parent}: {error}") from error
    try:
        with os.fdopen(fd, "wb") as handle:
            os.chmod(tmp_name, mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except OSError as error:
        Path(tmp_name).unlink(missing_ok=True)
        raise CertificateError(f"cannot write {path}: {error}") from error
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _check_free(paths: Sequence[Path], overwrite: bool) -> None:
    if overwrite:
        return
    existing = [str(p) for p in paths if p.exists()]
    if existing:
        raise CertificateError(
            f"refusing to overwrite existing files: {', '.join(existing)} "
            "(remove them, choose another directory, or pass --overwrite, overwrite=True)"
        )


def _prepare_dir(out_dir: Path) -> Path:
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CertificateError(f"cannot create directory {out_dir}: {error}") from error
    return out_dir


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_ca(
    out_dir: Path,
    *,
    name: str = "ca",
    common_name: str = "vfl job CA",
    days: int = 365,
    overwrite: bool = False,
) -> CertificateAuthority:
    """Create a CA: ``<name>.crt`` and ``<name>.key`` in ``out_dir``.

    Parameters
    ----------
    out_dir : pathlib.Path
        Directory (created if missing).
    name : str, default "ca"
        File stem, 1-63 lowercase letters, digits or ``-``.
    common_name : str, default "vfl job CA"
        The CA's subject CN.
    days : int, default 365
        Validity.
    overwrite : bool, default False
        Replace existing files.

    Returns
    -------
    CertificateAuthority
        The paths written.

    Raises
    ------
    CertificateError
        On a bad name, existing files (without ``overwrite``) or a write failure.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from cryptography import x509
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     ca = create_ca(Path(tmp), common_name="job 7 CA", days=30)
    ...     certificate = x509.load_pem_x509_certificate(ca.certificate.read_bytes())
    ...     create_ca(Path(tmp))  # the files exist now  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vfl.exceptions.CertificateError: refusing to overwrite existing files: ...
    >>> certificate.subject.rfc4514_string()
    'CN=job 7 CA'
    """
    if not isinstance(name, str) or not PARTY_NAME_PATTERN.fullmatch(name):
        raise CertificateError(f"invalid CA file name {name!r}: use lowercase letters, digits, '-'")
    _check_days(days)
    out_dir = _prepare_dir(out_dir)
    ca = CertificateAuthority(out_dir / f"{name}.crt", out_dir / f"{name}.key")
    _check_free([ca.certificate, ca.private_key], overwrite)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
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
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_atomic(ca.private_key, _key_pem(key), mode=0o600, overwrite=overwrite)
    _write_atomic(ca.certificate, _cert_pem(certificate), mode=0o644, overwrite=overwrite)
    return ca


def _load_ca(ca: CertificateAuthority) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The CA's certificate and key; the key is read only once the certificate is a CA's."""
    try:
        certificate = x509.load_pem_x509_certificate(ca.certificate.read_bytes())
    except (OSError, ValueError) as error:
        raise CertificateError(
            f"cannot read CA {ca.certificate} / {ca.private_key}: {error}"
        ) from error
    try:
        is_ca = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except (x509.ExtensionNotFound, ValueError):
        is_ca = False
    if not is_ca:
        raise CertificateError(
            f"{ca.certificate} is not a CA certificate; give the job CA's ca.crt and ca.key "
            "(made by create_job_ca or `vfl certs ca`)"
        )
    try:
        key = serialization.load_pem_private_key(ca.private_key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise CertificateError(
            f"cannot read CA {ca.certificate} / {ca.private_key}: {error}"
        ) from error
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError(f"CA key {ca.private_key} is not an EC key")
    if key.public_key() != certificate.public_key():
        raise CertificateError(
            f"CA key {ca.private_key} does not belong to CA certificate {ca.certificate}; "
            "use the ca.key made together with this ca.crt"
        )
    return certificate, key


def _subject(name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])


def _party_certificate(
    ca_certificate: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    name: str,
    public_key: ec.EllipticCurvePublicKey,
    *,
    dns_names: Sequence[str],
    days: int,
) -> x509.Certificate:
    """The one profile of a party certificate, for ``public_key``, signed by the CA.

    Subject ``CN=<name>``; not a CA; digital signature only; TLS server and client
    authentication; the DNS subjectAltNames ``dns_names`` (omitted when empty);
    valid from five minutes ago for ``days`` days, but never beyond the CA.
    """
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_subject(name))
        .issuer_name(ca_certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(min(now + dt.timedelta(days=days), ca_certificate.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
        )
    return builder.sign(ca_key, hashes.SHA256())


def issue_certificate(
    ca: CertificateAuthority,
    out_dir: Path,
    name: str,
    *,
    dns_names: Sequence[str] | None = None,
    ca_file: Path | None = None,
    days: int = 365,
    overwrite: bool = False,
) -> PartyCredentials:
    """Issue a party certificate signed by ``ca``: ``<name>.crt`` and ``<name>.key``.

    The key is made here, so whoever runs this has held it: for demos and tests.
    :func:`sign_certificate_request` issues the same certificate for a key that
    stays with its party.

    Parameters
    ----------
    ca : CertificateAuthority
        The signing CA.
    out_dir : pathlib.Path
        Directory (created if missing).
    name : str
        The party name: subject CN, file stem and (by default) the only DNS
        subjectAltName.  Validated with :func:`validate_party_name`.
    dns_names : sequence of str, optional
        The DNS subjectAltNames instead of ``[name]`` (not validated: for tests of
        refused certificates; an empty sequence omits the extension).
    ca_file : pathlib.Path, optional
        CA certificate recorded in the returned credentials (default: ``ca``'s).
    days : int, default 365
        Validity.
    overwrite : bool, default False
        Replace existing files.

    Returns
    -------
    PartyCredentials
        The paths of the certificate, key and CA certificate.

    Raises
    ------
    CertificateError
        On a bad name, unreadable CA, existing files (without ``overwrite``) or a
        write failure.

    Examples
    --------
    A certificate from a CA the job does not trust, as a test of refusals would make:

    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     foreign = create_ca(Path(tmp) / "foreign")
    ...     creds = issue_certificate(foreign, Path(tmp) / "foreign", "bank-a", days=1)
    ...     certificate_names(creds.certificate), creds.ca == foreign.certificate
    (['bank-a'], True)
    """
    validate_party_name(name)
    _check_days(days)
    out_dir = _prepare_dir(out_dir)
    credentials = PartyCredentials(
        certificate=out_dir / f"{name}.crt",
        private_key=out_dir / f"{name}.key",
        ca=ca.certificate if ca_file is None else ca_file,
    )
    _check_free([credentials.certificate, credentials.private_key], overwrite)
    ca_certificate, ca_key = _load_ca(ca)
    sans = [name] if dns_names is None else list(dns_names)
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = _party_certificate(
        ca_certificate, ca_key, name, key.public_key(), dns_names=sans, days=days
    )
    _write_atomic(credentials.private_key, _key_pem(key), mode=0o600, overwrite=overwrite)
    _write_atomic(credentials.certificate, _cert_pem(certificate), mode=0o644, overwrite=overwrite)
    return credentials


def create_job_certificates(
    out_dir: Path, parties: Sequence[str], *, days: int = 365, overwrite: bool = False
) -> dict[str, PartyCredentials]:
    """Create a job CA (``ca.crt``, ``ca.key``) and a certificate and key per party.

    Parameters
    ----------
    out_dir : pathlib.Path
        Directory (created if missing).
    parties : sequence of str
        Party names (unique, see :func:`validate_party_name`).
    days : int, default 365
        Validity of every certificate.
    overwrite : bool, default False
        Replace existing files; without it, nothing is written if any target
        file exists.

    Returns
    -------
    dict of str to PartyCredentials
        Each party's certificate, key and the CA certificate, in ``parties`` order.

    Raises
    ------
    CertificateError
        On an invalid or duplicate name, no parties, existing files (without
        ``overwrite``) or a write failure.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     creds = create_job_certificates(Path(tmp), ["guest", "host"])
    ...     sorted(path.name for path in Path(tmp).iterdir())
    ['ca.crt', 'ca.key', 'guest.crt', 'guest.key', 'host.crt', 'host.key']
    >>> list(creds)
    ['guest', 'host']
    """
    if isinstance(parties, str):
        raise CertificateError("parties must be a sequence of names, not one string")
    names = [validate_party_name(p) for p in parties]
    if not names:
        raise CertificateError("no parties given; a job needs at least one party")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise CertificateError(f"duplicate party names: {', '.join(duplicates)}")
    _check_days(days)
    out_dir = _prepare_dir(out_dir)
    targets = [out_dir / "ca.crt", out_dir / "ca.key"]
    targets += [out_dir / f"{n}.{ext}" for n in names for ext in ("crt", "key")]
    _check_free(targets, overwrite)
    ca = create_job_ca(out_dir, days=days, overwrite=overwrite)
    return {
        name: issue_certificate(ca, out_dir, name, days=days, overwrite=overwrite) for name in names
    }


def create_job_ca(
    out_dir: Path, *, days: int = 365, overwrite: bool = False
) -> CertificateAuthority:
    """Create only the job CA, ``ca.crt`` and ``ca.key`` (mode 0600), in ``out_dir``.

    The first step of the certificate-request flow, run by the CA operator: the
    parties then send requests (:func:`create_certificate_request`) and the
    operator signs them (:func:`sign_certificate_request`).  ``ca.crt`` goes to
    every party; ``ca.key`` never leaves the operator.

    Parameters
    ----------
    out_dir : pathlib.Path
        Directory (created if missing).
    days : int, default 365
        Validity of the CA; no certificate it signs outlives it.
    overwrite : bool, default False
        Replace existing files (a new CA: every party then needs a new certificate).

    Returns
    -------
    CertificateAuthority
        The paths of ``ca.crt`` and ``ca.key``.

    Raises
    ------
    CertificateError
        On a bad ``days``, existing files (without ``overwrite``) or a write failure.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     ca = create_job_ca(Path(tmp), days=90)
    ...     sorted(path.name for path in Path(tmp).iterdir())
    ['ca.crt', 'ca.key']
    >>> ca.certificate.name, ca.private_key.name
    ('ca.crt', 'ca.key')
    """
    return create_ca(out_dir, days=days, overwrite=overwrite)


def locate_ca(path: Path, *, key: Path | None = None) -> CertificateAuthority:
    """The CA files at ``path``: a directory with ``ca.crt`` and ``ca.key``, or a certificate.

    Parameters
    ----------
    path : pathlib.Path
        The CA operator's directory (holding ``ca.crt`` and ``ca.key``), or the CA
        certificate itself, whose key is then the file of the same name ending in
        ``.key`` (``job-ca.crt`` and ``job-ca.key``).
    key : pathlib.Path, optional
        The CA private key, if it is elsewhere.

    Returns
    -------
    CertificateAuthority
        The two paths (neither file is read).

    Raises
    ------
    CertificateError
        If either file does not exist.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     made = create_job_ca(Path(tmp))
    ...     locate_ca(Path(tmp)) == made == locate_ca(Path(tmp) / "ca.crt")
    True
    >>> locate_ca(Path("nowhere"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vfl.exceptions.CertificateError: CA files not found: nowhere, nowhere.key ...
    """
    path = Path(path)
    if path.is_dir():
        ca = CertificateAuthority(path / "ca.crt", path / "ca.key")
    else:
        ca = CertificateAuthority(path, path.with_suffix(".key"))
    if key is not None:
        ca = CertificateAuthority(ca.certificate, Path(key))
    missing = [str(p) for p in (ca.certificate, ca.private_key) if not p.is_file()]
    if missing:
        raise CertificateError(
            f"CA files not found: {', '.join(missing)} (give the CA's directory, holding "
            "ca.crt and ca.key, or the CA certificate with its key)"
        )
    return ca


def create_certificate_request(
    out_dir: Path, party: str, *, overwrite: bool = False
) -> tuple[Path, Path]:
    """Make a party's own key and certificate request: ``<party>.key`` and ``<party>.csr``.

    Run by each party on its own machine.  The key (EC P-256, mode 0600) stays
    there; only the request (PEM PKCS#10, subject ``CN=<party>`` and the single DNS
    subjectAltName ``<party>``, signed with the key) goes to the CA operator, who
    returns the certificate made by :func:`sign_certificate_request`.

    Parameters
    ----------
    out_dir : pathlib.Path
        Directory (created if missing).
    party : str
        This party's name in the job file (see :func:`validate_party_name`).
    overwrite : bool, default False
        Replace an existing key and request.  The old key is lost, and with it any
        certificate issued for it.

    Returns
    -------
    tuple of pathlib.Path
        The private key and the request, in that order.

    Raises
    ------
    CertificateError
        On a bad name, existing files (without ``overwrite``) or a write failure.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from cryptography import x509
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     key, request = create_certificate_request(Path(tmp), "bank-a")
    ...     csr = x509.load_pem_x509_csr(request.read_bytes())
    ...     mode = oct(key.stat().st_mode & 0o777)
    ...     create_certificate_request(Path(tmp), "bank-a")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vfl.exceptions.CertificateError: .../bank-a.key already exists: ...
    >>> key.name, request.name, mode
    ('bank-a.key', 'bank-a.csr', '0o600')
    >>> csr.subject.rfc4514_string(), csr.is_signature_valid
    ('CN=bank-a', True)
    """
    validate_party_name(party)
    out_dir = _prepare_dir(out_dir)
    key_path, request_path = out_dir / f"{party}.key", out_dir / f"{party}.csr"
    if key_path.exists() and not overwrite:
        raise CertificateError(
            f"{key_path} already exists: it may be the key of this party's certificate; "
            "keep it, or choose another directory, or pass overwrite=True "
            "(--overwrite) to replace it with a new key"
        )
    _check_free([request_path], overwrite)
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_subject(party))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(party)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_atomic(key_path, _key_pem(key), mode=0o600, overwrite=overwrite)
    _write_atomic(
        request_path,
        request.public_bytes(serialization.Encoding.PEM),
        mode=0o644,
        overwrite=overwrite,
    )
    return key_path, request_path


def _read_request(path: Path) -> x509.CertificateSigningRequest:
    if path.suffix == ".key":
        raise CertificateError(
            f"refusing to read {path}: signing needs only the party's request (.csr); a "
            "private key must never leave its party's machine"
        )
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CertificateError(f"cannot read certificate request {path}: {error}") from error
    if b"PRIVATE KEY" in data:
        raise CertificateError(
            f"{path} holds a private key: it must never leave its party's machine. Ask the "
            "party for its .csr only, and to make a new key and request "
            "(`vfl certs request --overwrite`): this key is no longer private"
        )
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_csr(data)
        return x509.load_der_x509_csr(data)
    except ValueError as error:
        raise CertificateError(
            f"{path} is not a certificate request (PEM PKCS#10): {error}; the party makes "
            "one with `vfl certs request`"
        ) from error


def _fingerprint_of(document: x509.Certificate | x509.CertificateSigningRequest) -> str:
    digest = hashlib.sha256(document.public_bytes(serialization.Encoding.DER)).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2)).upper()


def _normalised_fingerprint(value: str) -> str:
    return "".join(c for c in value.upper() if c in "0123456789ABCDEF")


def _describe_key(key: object) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        weak = " (weak)" if key.key_size < 2048 else ""
        return f"an RSA-{key.key_size} key{weak}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"an EC key on curve {key.curve.name}"
    return f"a key of type {type(key).__name__.removeprefix('_')}"


def _describe_general_name(name: x509.GeneralName) -> str:
    if isinstance(name, x509.DNSName):
        return f"DNS:{name.value}"
    return f"{type(name).__name__}:{name.value}"


def _describe_extension(extension: x509.Extension[x509.ExtensionType]) -> str:
    if isinstance(extension.value, x509.UnrecognizedExtension):
        return extension.oid.dotted_string
    return type(extension.value).__name__


def _checked_request(
    path: Path, request: x509.CertificateSigningRequest
) -> tuple[str, ec.EllipticCurvePublicKey]:
    """The party name and public key of ``request``, once it passes every check."""
    where = path.name
    remake = "the party makes a new one with `vfl certs request`"
    if not request.is_signature_valid:
        raise CertificateError(
            f"{where}: the request's signature is invalid (it was damaged or altered after "
            f"its party made it); refuse it, and ask for a new request: {remake}"
        )
    try:
        public_key = request.public_key()
    except (ValueError, UnsupportedAlgorithm) as error:
        raise CertificateError(f"{where}: unreadable public key ({error}); {remake}") from error
    if not (
        isinstance(public_key, ec.EllipticCurvePublicKey)
        and isinstance(public_key.curve, ec.SECP256R1)
    ):
        raise CertificateError(
            f"{where} carries {_describe_key(public_key)}; job certificates are for EC P-256 "
            f"keys only: {remake}"
        )
    try:
        extensions = list(request.extensions)
    except (ValueError, x509.DuplicateExtension) as error:
        raise CertificateError(f"{where}: malformed extensions ({error}); {remake}") from error
    others = [e for e in extensions if not isinstance(e.value, x509.SubjectAlternativeName)]
    if others:
        wants_ca = any(
            (isinstance(e.value, x509.BasicConstraints) and e.value.ca)
            or (isinstance(e.value, x509.KeyUsage) and e.value.key_cert_sign)
            for e in others
        )
        why = "; it asks to be a CA, which a party never is" if wants_ca else ""
        raise CertificateError(
            f"{where} asks for extensions the CA does not grant "
            f"({', '.join(_describe_extension(e) for e in others)}){why}. A party's request "
            f"carries only its DNS subjectAltName; the CA fixes everything else: {remake}"
        )
    general_names = [
        n for e in extensions if isinstance(e.value, x509.SubjectAlternativeName) for n in e.value
    ]
    dns_names = [n.value for n in general_names if isinstance(n, x509.DNSName)]
    if len(general_names) != 1 or len(dns_names) != 1:
        found = ", ".join(_describe_general_name(n) for n in general_names) or "none"
        raise CertificateError(
            f"{where} must name exactly one party, as its only subjectAltName (a DNS name), "
            f"but names {found}: the party makes a new one with "
            "`vfl certs request --party NAME`"
        )
    name = dns_names[0]
    try:
        validate_party_name(name)
    except CertificateError as error:
        raise CertificateError(f"{where}: {error}") from None
    if request.subject != _subject(name):
        raise CertificateError(
            f"{where}: its subject is {request.subject.rfc4514_string()!r}, but a request for "
            f"{name!r} has the subject 'CN={name}' and nothing else: {remake}"
        )
    return name, public_key


def sign_certificate_request(
    ca: CertificateAuthority | Path,
    csr_path: Path,
    out_path: Path,
    *,
    party: str | None = None,
    allowed_parties: Collection[str] | None = None,
    allowed_source: str = "the job",
    expected_fingerprint: str | None = None,
    days: int = 365,
    overwrite: bool = False,
) -> Path:
    """Check a party's certificate request and issue its certificate, signed by ``ca``.

    Run by the CA operator.  Only the request and the CA's files are read: the
    party's private key never is.  The request must carry a valid self-signature,
    an EC P-256 key, the subject ``CN=<name>`` and exactly one subjectAltName, the
    DNS name ``<name>`` of a valid party, and no other extension (no CA request).
    The certificate has the same profile as :func:`issue_certificate`'s.

    Parameters
    ----------
    ca : CertificateAuthority or pathlib.Path
        The job CA, or where it is (see :func:`locate_ca`).
    csr_path : pathlib.Path
        The party's request (PEM or DER PKCS#10).
    out_path : pathlib.Path
        The certificate file to write, or an existing directory to write
        ``<name>.crt`` into.
    party : str, optional
        The party the request must name (the one that sent it).
    allowed_parties : collection of str, optional
        The names the request may name, such as the parties of the job file.
    allowed_source : str, default "the job"
        Where ``allowed_parties`` come from, for error messages (a job file's path).
    expected_fingerprint : str, optional
        The request's SHA-256 fingerprint (see :func:`fingerprint`) as its party
        read it out over a second channel; the request is refused if it differs (it
        is not the one the party made).  Case, colons and spaces do not matter.
    days : int, default 365
        Validity; never beyond the CA's.
    overwrite : bool, default False
        Replace an existing certificate file.

    Returns
    -------
    pathlib.Path
        The certificate written (PEM, mode 0644).

    Raises
    ------
    CertificateError
        If the request fails a check (the message says which, and what to do), the
        CA cannot be read or has expired, the file exists (without ``overwrite``),
        or on a write failure.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     ca = create_job_ca(Path(tmp) / "operator")
    ...     _, request = create_certificate_request(Path(tmp) / "bank-x", "bank-x")
    ...     sign_certificate_request(
    ...         ca, request, Path(tmp) / "operator", allowed_parties=["bank-a", "bank-b"],
    ...         allowed_source="job.toml",
    ...     )  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vfl.exceptions.CertificateError: bank-x.csr names 'bank-x', which is not a party of job.toml ...
    """
    _check_days(days)
    if party is not None:
        validate_party_name(party)
    csr_path = Path(csr_path)
    request = _read_request(csr_path)
    if expected_fingerprint is not None:
        actual = _fingerprint_of(request)
        if _normalised_fingerprint(expected_fingerprint) != _normalised_fingerprint(actual):
            raise CertificateError(
                f"{csr_path.name} has the fingerprint {actual}, not the one its party gave "
                f"({expected_fingerprint}): it is not the request the party made; refuse it "
                "and ask the party to send its request again"
            )
    name, public_key = _checked_request(csr_path, request)
    if party is not None and name != party:
        raise CertificateError(
            f"{csr_path.name} names {name!r}, not {party!r}: sign a party's request only under "
            f"its own name; ask {party!r} for its request (`vfl certs request --party {party}`)"
        )
    if allowed_parties is not None and name not in allowed_parties:
        raise CertificateError(
            f"{csr_path.name} names {name!r}, which is not a party of {allowed_source} "
            f"(its parties: {', '.join(sorted(allowed_parties)) or 'none'}); sign requests only "
            "for the job's parties: ask the sender for a request under its party name, or add "
            "the party to the job file first"
        )
    out_path = Path(out_path)
    if out_path.is_dir():
        out_path = out_path / f"{name}.crt"
    else:
        _prepare_dir(out_path.parent)
    _check_free([out_path], overwrite)
    ca = ca if isinstance(ca, CertificateAuthority) else locate_ca(Path(ca))
    ca_certificate, ca_key = _load_ca(ca)
    if ca_certificate.not_valid_after_utc <= _now():
        raise CertificateError(
            f"the CA {ca.certificate} expired on {ca_certificate.not_valid_after_utc:%Y-%m-%d}; "
            "make a new job CA and new certificates for every party"
        )
    if public_key == ca_key.public_key():
        raise CertificateError(f"{csr_path.name} carries the CA's own key; refuse it")
    certificate = _party_certificate(
        ca_certificate, ca_key, name, public_key, dns_names=[name], days=days
    )
    _write_atomic(out_path, _cert_pem(certificate), mode=0o644, overwrite=overwrite)
    return out_path


def fingerprint(path: Path) -> str:
    """The SHA-256 fingerprint of a certificate or certificate request, to compare by phone.

    For a certificate it is what ``openssl x509 -noout -fingerprint -sha256``
    prints.  Compare it over a second channel (a phone call) with the one its
    sender's tool printed, before trusting a ``ca.crt`` or signing a ``.csr``.

    Parameters
    ----------
    path : pathlib.Path
        A PEM or DER certificate or certificate request.

    Returns
    -------
    str
        Thirty-two colon-separated upper-case hex bytes of the SHA-256 of its DER form.

    Raises
    ------
    CertificateError
        If the file cannot be read or is neither.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     ca = create_job_ca(Path(tmp))
    ...     value = fingerprint(ca.certificate)
    ...     value == fingerprint(ca.certificate), len(value.split(":"))
    (True, 32)
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CertificateError(f"cannot read {path}: {error}") from error
    document: x509.Certificate | x509.CertificateSigningRequest
    try:
        if b"-----BEGIN CERTIFICATE REQUEST-----" in data:
            document = x509.load_pem_x509_csr(data)
        elif data.lstrip().startswith(b"-----BEGIN"):
            document = x509.load_pem_x509_certificate(data)
        else:
            try:
                document = x509.load_der_x509_certificate(data)
            except ValueError:
                document = x509.load_der_x509_csr(data)
    except ValueError as error:
        raise CertificateError(
            f"{path} is neither a certificate nor a certificate request: {error}"
        ) from error
    return _fingerprint_of(document)


def certificate_names(path: Path) -> list[str]:
    """The DNS subjectAltNames of the certificate in ``path`` (a party certificate has one).

    Parameters
    ----------
    path : pathlib.Path
        A PEM certificate.

    Returns
    -------
    list of str
        Its DNS subjectAltNames (empty without the extension).

    Raises
    ------
    CertificateError
        If the file cannot be read or is not a PEM certificate.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     ca = create_ca(Path(tmp))
    ...     odd = issue_certificate(ca, Path(tmp), "bank-a", dns_names=["bank-a", "bank-z"])
    ...     certificate_names(odd.certificate), certificate_names(ca.certificate)
    (['bank-a', 'bank-z'], [])
    """
    try:
        certificate = x509.load_pem_x509_certificate(Path(path).read_bytes())
    except (OSError, ValueError) as error:
        raise CertificateError(f"cannot read certificate {path}: {error}") from error
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(extension.value.get_values_for_type(x509.DNSName))
