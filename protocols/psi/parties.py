"""The guest and host roles of a PSI run, whichever the method."""

from __future__ import annotations

from collections.abc import Sequence

from protocols.psi.guest import PsiGuest
from protocols.psi.host import PsiHost
from protocols.psi.kkrt_guest import KkrtGuest
from protocols.psi.kkrt_host import KkrtHost
from protocols.psi.settings import PsiSettings
from protocols.psi.vole_guest import VoleGuest
from protocols.psi.vole_host import VoleHost

__all__ = ["psi_guest", "psi_host"]


def psi_guest(
    party: str,
    job_id: str,
    *,
    hosts: Sequence[str],
    ids: Sequence[bytes],
    settings: PsiSettings | None = None,
) -> PsiGuest | KkrtGuest | VoleGuest:
    """The guest's role for ``settings.method``: PsiGuest, KkrtGuest or VoleGuest.

    Parameters
    ----------
    party, job_id : str
        See :class:`~protocols.roles.Role`.
    hosts : sequence of str
        The hosts.
    ids : sequence of bytes
        This party's ids, unique.
    settings : PsiSettings, optional
        The job's PSI parameters (default: ECDH, output ``"both"``).

    Returns
    -------
    PsiGuest, KkrtGuest or VoleGuest
        The role.

    Examples
    --------
    >>> type(psi_guest("g", "j", hosts=["h"], ids=[], settings=PsiSettings(method="kkrt")))
    <class 'protocols.psi.kkrt_guest.KkrtGuest'>
    """
    settings = settings or PsiSettings()
    if settings.method == "kkrt":
        return KkrtGuest(party, job_id, hosts=hosts, ids=ids, settings=settings)
    if settings.method == "vole":
        return VoleGuest(party, job_id, hosts=hosts, ids=ids, settings=settings)
    return PsiGuest(party, job_id, hosts=hosts, ids=ids, settings=settings)


def psi_host(
    party: str,
    job_id: str,
    *,
    guest: str,
    ids: Sequence[bytes],
    settings: PsiSettings | None = None,
) -> PsiHost | KkrtHost | VoleHost:
    """A host's role for ``settings.method``: :class:`PsiHost` or :class:`KkrtHost`.

    Parameters
    ----------
    party, job_id : str
        See :class:`~protocols.roles.Role`.
    guest : str
        The guest's name.
    ids : sequence of bytes
        This party's ids, unique.
    settings : PsiSettings, optional
        The job's PSI parameters (default: ECDH, output ``"both"``).

    Returns
    -------
    PsiHost, KkrtHost or VoleHost
        The role.

    Examples
    --------
    >>> type(psi_host("h", "j", guest="g", ids=[b"ann"]))
    <class 'protocols.psi.host.PsiHost'>
    """
    settings = settings or PsiSettings()
    if settings.method == "kkrt":
        return KkrtHost(party, job_id, guest=guest, ids=ids, settings=settings)
    if settings.method == "vole":
        return VoleHost(party, job_id, guest=guest, ids=ids, settings=settings)
    return PsiHost(party, job_id, guest=guest, ids=ids, settings=settings)
