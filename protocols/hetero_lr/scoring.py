"""Scoring with a trained hetero model: hosts send partial scores, the guest combines.

The guest asks every host for ``u_h = X_h w_h`` on the aligned rows to score and
computes ``sigmoid(X_g w_g + b + sum_h u_h)`` (the objective's prediction, see
:meth:`~protocols.hetero_lr.objective.QuadraticObjective.mean`).  The guest learns
each host's partial score per scored row: that is inherent when the guest learns
the scores, and is declared in SECURITY.md (feature inference from prediction
scores).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from protocols.exceptions import ProtocolError
from protocols.hetero_lr.objective import DEFAULT_OBJECTIVE, get_objective, sigmoid
from protocols.hetero_lr.party import (
    check_rows_digest,
    checked_matrix,
    row_ids_checked,
    rows_digest,
)
from protocols.messages import LrPartialScores, LrScoreRequest, Message
from protocols.roles import Role

__all__ = ["ScoreGuest", "ScoreHost", "sigmoid"]

FloatArray = npt.NDArray[np.float64]


def _checked_weights(weights: npt.ArrayLike, width: int, party: str) -> FloatArray:
    array = np.asarray(weights, dtype=np.float64)
    if array.shape != (width,) or not np.isfinite(array).all():
        raise ProtocolError(
            f"{party}: the model has {array.size} weights but the data {width} columns"
        )
    return array


class ScoreGuest(Role):
    """The guest's side of scoring; the result is the probability per row.

    Parameters
    ----------
    party, job_id : str
    hosts : sequence of str
    features : array_like
        The guest's aligned rows to score.
    weights : array_like
        The guest's coefficients.
    intercept : float
    row_ids : sequence of str, optional
        The rows' customer ids, in order (each host compares a salted digest).
    objective : str, default "taylor-logistic"
        The trained model's objective (:data:`~protocols.hetero_lr.objective.OBJECTIVES`):
        its prediction from the summed scores.

    Raises
    ------
    ProtocolError
        If the rows are malformed or do not match the weights.

    Examples
    --------
    >>> guest = ScoreGuest("guest", "job-1", hosts=["host"], features=[[1.0], [0.0]],
    ...                    weights=[2.0], intercept=-1.0)
    >>> host = ScoreHost("host", "job-1", guest="guest", features=[[0.5], [1.0]],
    ...                  weights=[2.0])
    >>> (request,) = guest.start()
    >>> (scores,) = host.receive(request)
    >>> scores.scores.tolist()  # the host's partial scores X_h w_h
    [1.0, 2.0]
    >>> guest.receive(scores), guest.result.round(4).tolist()  # sigmoid(2 - 1 + 1), ...
    ([], [0.8808, 0.7311])
    """

    def __init__(
        self,
        party: str,
        job_id: str,
        *,
        hosts: Sequence[str],
        features: npt.ArrayLike,
        weights: npt.ArrayLike,
        intercept: float,
        row_ids: Sequence[str] | None = None,
        objective: str = DEFAULT_OBJECTIVE,
    ) -> None:
        super().__init__(party, job_id)
        self.hosts = tuple(hosts)
        self.X = checked_matrix(features, "the rows to score", party)
        self.weights = _checked_weights(weights, self.X.shape[1], party)
        self.intercept = float(intercept)
        self.row_ids = row_ids_checked(row_ids, len(self.X), party)
        self.objective = get_objective(objective)
        self._partials: dict[str, FloatArray] = {}

    def start(self) -> list[Message]:
        """Ask every host for its partial scores.

        Returns
        -------
        list of Message
            One :class:`~protocols.messages.LrScoreRequest` per host.
        """
        salt = secrets.token_bytes(16)
        digest = rows_digest(self.row_ids, salt)
        return [
            LrScoreRequest(
                job_id=self.job_id,
                sender=self.party,
                receiver=host,
                rows=len(self.X),
                rows_salt=salt if digest else b"",
                rows_digest=digest,
            )
            for host in self.hosts
        ]

    def receive(self, message: Message) -> list[Message]:
        """Collect partial scores; finish when every host has answered.

        Parameters
        ----------
        message : Message
            A host's :class:`~protocols.messages.LrPartialScores`.

        Returns
        -------
        list of Message
            Always empty.

        Raises
        ------
        ProtocolError
            If the message is unexpected or has the wrong number of scores.
        """
        if (
            self.done
            or not isinstance(message, LrPartialScores)
            or message.sender not in self.hosts
            or message.sender in self._partials
        ):
            raise self._unexpected(message, "waiting for partial scores")
        scores = np.asarray(message.scores, dtype=np.float64)
        if scores.shape != (len(self.X),) or not np.isfinite(scores).all():
            raise ProtocolError(
                f"{self.party}: {message.sender} sent {scores.size} partial scores for "
                f"{len(self.X)} rows"
            )
        self._partials[message.sender] = scores
        if len(self._partials) == len(self.hosts):
            total = self.X @ self.weights + self.intercept
            for partial in self._partials.values():
                total = total + partial
            self._finish(self.objective.mean(total))
        return []

    @property
    def waiting_for(self) -> Sequence[str]:
        """Hosts that have not answered yet."""
        return tuple(host for host in self.hosts if host not in self._partials)


class ScoreHost(Role):
    """A host's side of scoring.

    Parameters
    ----------
    party, job_id : str
    guest : str
    features : array_like
        The host's aligned rows to score.
    weights : array_like
        The host's coefficients.

    Raises
    ------
    ProtocolError
        If the rows are malformed or do not match the weights.

    Examples
    --------
    See :class:`ScoreGuest` for a whole run.

    >>> host = ScoreHost("host", "job-1", guest="guest", features=[[0.5]], weights=[2.0])
    >>> host.start(), host.waiting_for
    ([], ('guest',))
    """

    def __init__(
        self,
        party: str,
        job_id: str,
        *,
        guest: str,
        features: npt.ArrayLike,
        weights: npt.ArrayLike,
        row_ids: Sequence[str] | None = None,
    ) -> None:
        super().__init__(party, job_id)
        self.guest = guest
        self.X = checked_matrix(features, "the rows to score", party)
        self.weights = _checked_weights(weights, self.X.shape[1], party)
        self.row_ids = row_ids_checked(row_ids, len(self.X), party)

    def start(self) -> list[Message]:
        """Nothing before the guest's request.

        Returns
        -------
        list of Message
            Always empty.
        """
        return []

    def receive(self, message: Message) -> list[Message]:
        """Answer the guest's request with ``X_h w_h``.

        Parameters
        ----------
        message : Message
            The guest's :class:`~protocols.messages.LrScoreRequest`.

        Returns
        -------
        list of Message
            One :class:`~protocols.messages.LrPartialScores`.

        Raises
        ------
        ProtocolError
            If the message is unexpected or asks for another number of rows.
        """
        if self.done or not isinstance(message, LrScoreRequest) or message.sender != self.guest:
            raise self._unexpected(message, "waiting for the guest's request")
        if message.rows != len(self.X):
            raise ProtocolError(
                f"{self.party}: the guest scores {message.rows} rows, this host has "
                f"{len(self.X)}; align the rows to score with PSI first"
            )
        if len(message.rows_salt) > 64:
            raise ProtocolError(f"{self.party}: the guest's rows salt is too long")
        check_rows_digest(
            message.rows_digest, self.row_ids, message.rows_salt, self.party, "the guest"
        )
        self._finish(None)
        return [
            LrPartialScores(
                job_id=self.job_id,
                sender=self.party,
                receiver=self.guest,
                scores=self.X @ self.weights,
            )
        ]

    @property
    def waiting_for(self) -> Sequence[str]:
        """The guest until it has asked."""
        return () if self.done else (self.guest,)
