"""Certificates of a job: one job CA, and per party a certificate naming it.

A party's identity on the wire is the single DNS subjectAltName of its
certificate, issued by the job's own CA (and the CA is the only one trusted).
:func:`create_job_certificates` makes everything a job needs;
:func:`create_ca` and :func:`issue_certificate` are the building blocks (tests use
them to make a foreign CA, or certificates with other names).

Keys are EC P-256.  Files are PEM; private keys are written with mode 0600; every
file is written to a temporary file in the same directory and then renamed over
its final name, so it is never seen half-written.  Existing files are never
overwritten unless ``overwrite=True``.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> with tempfile.TemporaryDirectory() as tmp:
...     creds = create_job_certificates(Path(tmp), ["bank-a", "bank-b"])
...     certificate_names(creds["bank-a"].certificate)
['bank-a']
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from protocols.messages import PARTY_NAME_PATTERN
from vfl.exceptions import CertificateError

__all__ = [
    "PARTY_NAME_PATTERN",
    "CertificateAuthority",
    "PartyCredentials",
    "certificate_names",
    "create_ca",
    "create_job_certificates",
    "issue_certificate",
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
        raise CertificateError(f"{path} already exists; refusing to overwrite it (overwrite=True)")
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
            "(remove them, choose another directory, or pass overwrite=True)"
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
    try:
        certificate = x509.load_pem_x509_certificate(ca.certificate.read_bytes())
        key = serialization.load_pem_private_key(ca.private_key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise CertificateError(
            f"cannot read CA {ca.certificate} / {ca.private_key}: {error}"
        ) from error
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError(f"CA key {ca.private_key} is not an EC key")
    return certificate, key


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
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False
        )
    certificate = builder.sign(ca_key, hashes.SHA256())
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
    ca = create_ca(out_dir, days=days, overwrite=overwrite)
    return {
        name: issue_certificate(ca, out_dir, name, days=days, overwrite=overwrite) for name in names
    }


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
