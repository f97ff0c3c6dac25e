"""Every error the ``protocols`` package raises."""

from __future__ import annotations

__all__ = ["BinningError", "ProtocolError", "UnexpectedMessageError"]


class ProtocolError(Exception):
    """A role cannot continue: a peer broke the protocol or the inputs are unusable.

    The message says what was wrong and which party caused it.

    Examples
    --------
    >>> from protocols.psi import PsiSettings
    >>> try:
    ...     PsiSettings(method="dh")
    ... except ProtocolError as error:
    ...     print(error)
    unknown PSI method 'dh'; choose one of ('ecdh', 'rsa', 'kkrt', 'vole')
    """


class UnexpectedMessageError(ProtocolError):
    """A message arrived that the role's current state does not allow.

    Examples
    --------
    >>> from protocols.messages import Abort
    >>> from protocols.secure_sum import SumContributor
    >>> role = SumContributor("h1", "job", key_owner="g", ring=["h1"], values=[1.0], max_abs=2.0)
    >>> role.receive(Abort(job_id="job", sender="g", receiver="h1", reason="bye"))
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    protocols.exceptions.UnexpectedMessageError: h1 did not expect ABORT from g while waiting ...
    """


class BinningError(ProtocolError):
    """Binning, weight of evidence or a scorecard cannot be computed from these inputs.

    Raised by :mod:`protocols.binning` for unusable values (a missing cell where the
    bins have no missing bin, an unknown method, a malformed stored binning) and by
    the binning exchange when a peer breaks the protocol.

    Examples
    --------
    >>> from protocols.binning import FeatureBins
    >>> try:
    ...     FeatureBins("age", "numeric", edges=(30.0, 20.0))
    ... except BinningError as error:
    ...     print(error)
    feature 'age': edges must be finite and strictly increasing, got (30.0, 20.0)
    """
