"""Local work overlapped with other roles' messages (vfl.runtime.local.overlap_work).

The helper thread must never run a role's work while that role handles a message,
must deliver exactly what the sequential pump delivers, must not change a trained
model, and obfuscators precomputed on one thread and consumed on another are each
used once.
"""

from __future__ import annotations

import threading

import numpy as np

from crypto.paillier import generate_paillier_keypair
from protocols.messages import Abort, Message
from protocols.roles import Role
from vfl import HeteroLogisticRegression
from vfl.runtime.local import overlap_work, run_locally
from vfl.tables.datasets import load_builtin

ROUNDS = 6


class _Pinger(Role):
    """Sends ``ROUNDS`` messages to its peer, one per reply."""

    def __init__(self, party: str, peer: str) -> None:
        super().__init__(party, "job-1")
        self.peer = peer
        self.seen: list[str] = []

    def start(self) -> list[Message]:
        return [Abort(job_id="job-1", sender=self.party, receiver=self.peer, reason="0")]

    def receive(self, message: Message) -> list[Message]:
        assert isinstance(message, Abort)
        self.seen.append(message.reason)
        count = int(message.reason) + 1
        if count >= ROUNDS:
            self._finish(self.seen)
            return []
        return [Abort(job_id="job-1", sender=self.party, receiver=self.peer, reason=str(count))]

    @property
    def waiting_for(self) -> tuple[str, ...]:
        return () if self.done else (self.peer,)


class _Worker(_Pinger):
    """A pinger with ``ROUNDS`` pieces of slow local work, checking it never overlaps itself."""

    def __init__(self, party: str, peer: str) -> None:
        super().__init__(party, peer)
        self.pieces = 0
        self.busy = threading.Lock()
        self.threads: set[str] = set()

    @property
    def has_work(self) -> bool:
        return self.pieces < ROUNDS

    def work(self) -> list[Message]:
        assert self.busy.acquire(blocking=False), "work ran while the role was busy"
        try:
            self.threads.add(threading.current_thread().name)
            threading.Event().wait(0.01)
            self.pieces += 1
            return []
        finally:
            self.busy.release()

    def receive(self, message: Message) -> list[Message]:
        assert self.busy.acquire(blocking=False), "a message arrived during the role's work"
        try:
            return super().receive(message)
        finally:
            self.busy.release()


def _ping_pong(overlap: bool) -> tuple[list[str], list[str], _Worker]:
    guest, worker = _Pinger("guest", "host"), _Worker("host", "guest")
    with overlap_work(overlap):
        run_locally({"guest": guest, "host": worker}, through_codec=False)
    assert guest.done and worker.done and worker.pieces == ROUNDS
    return guest.seen, worker.seen, worker


def test_work_runs_beside_the_other_role_and_never_beside_its_own_messages() -> None:
    *sequential, alone = _ping_pong(False)
    *overlapped, beside = _ping_pong(True)
    assert overlapped == sequential  # the same messages, in the same order
    assert not any(name.startswith("vfl-local-work") for name in alone.threads)
    assert any(name.startswith("vfl-local-work") for name in beside.threads)


def test_obfuscators_precomputed_on_another_thread_are_each_used_once() -> None:
    # the ciphertext of 0 drawn from the pool is the obfuscator itself
    _, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    stop = threading.Event()

    def fill() -> None:
        while not stop.is_set():
            private_key.precompute_obfuscators(8, n_jobs=1)

    filler = threading.Thread(target=fill)
    filler.start()
    try:
        drawn = [
            int(c) for _ in range(40) for c in private_key.encrypt_vector(np.zeros(8)).ciphertexts
        ]
    finally:
        stop.set()
        filler.join()
    assert len(set(drawn)) == len(drawn) == 320
    # the pool's leftovers were never handed out
    leftovers = [
        int(c)
        for c in private_key.encrypt_vector(
            np.zeros(private_key.precomputed_obfuscators)
        ).ciphertexts
    ]
    assert not set(leftovers) & set(drawn)


def test_an_encrypted_shared_fit_learns_the_same_model_with_and_without_overlap() -> None:
    guest, host = load_builtin("breast")
    position = {customer: row for row, customer in enumerate(host.ids)}
    order = np.array([position[customer] for customer in guest.ids])
    rows = np.r_[0:64, 300:364]
    assert guest.labels is not None
    Xg, y, Xh = (
        guest.features[rows],
        guest.labels[rows].astype(float),
        host.features[order][rows, :3],
    )
    fits = {}
    for overlap in (False, True):
        with overlap_work(overlap):
            fits[overlap] = HeteroLogisticRegression(
                key_length=1024, allow_weak_key=True, batch_size=64, max_iter=2, random_state=0,
                n_jobs=2,
            ).fit(Xg, y, hosts=[Xh])  # fmt: skip
    before, after = fits[False], fits[True]
    weights = {
        key: np.concatenate([fit.coef_guest_, *fit.coef_hosts_]) for key, fit in fits.items()
    }
    moved = float(np.max(np.abs(weights[False])))
    # shared mode's fixed-point truncation differs by at most a few 2**-15 per step
    np.testing.assert_allclose(weights[True], weights[False], rtol=0, atol=2**-10)
    np.testing.assert_allclose(after.intercept_, before.intercept_, rtol=0, atol=2**-10)
    assert moved > 100 * 2**-10
