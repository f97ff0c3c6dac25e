"""The runner's receive path under hostile input: refuse cleanly, never crash or hang."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.exceptions import ProtocolError
from protocols.messages import Abort, SumPublicKey
from protocols.secure_sum import SumContributor, SumKeyOwner
from vfl.exceptions import CodecError, PeerTimeoutError, VflError
from vfl.runtime import codec
from vfl.runtime.runner import RunSettings, Session, step_job_id
from vfl.runtime.transport.memory import MemoryNetwork

JOB = "fuzz-job"
SETTINGS = RunSettings(timeout=0.5, connect_timeout=2, allow_weak_keys=True)


def _host_session(network: MemoryNetwork, settings_: RunSettings = SETTINGS) -> Session:
    return Session(
        network.transport("host"), "host", JOB, ["guest"], settings_, show_progress=False
    )


def _contributor(step: int) -> SumContributor:
    return SumContributor(
        "host",
        step_job_id(JOB, step),
        key_owner="guest",
        ring=["host"],
        values=[1.0],
        max_abs=10.0,
        min_key_bits=512,
    )


def _run_host(session: Session, step: int = 0) -> tuple[threading.Thread, dict[str, object]]:
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            with session:
                role = _contributor(step)
                outcome["result"] = session.run(role, step, "secure_sum")
        except BaseException as error:  # the assertion is on its type
            outcome["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def _valid_key_frame(public_key, job_id: str = step_job_id(JOB, 0), **header) -> bytes:
    fields = {"job_id": job_id, "sender": "guest", "receiver": "host"} | header
    return codec.encode(SumPublicKey(public_key=public_key, length=1, **fields))


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_random_frames_are_refused_and_the_peer_is_told(data: bytes) -> None:
    network = MemoryNetwork()
    guest = network.transport("guest")
    thread, outcome = _run_host(_host_session(network))
    guest.connect(["host"], 2)
    guest.send("host", data)
    thread.join(timeout=10)
    assert not thread.is_alive(), "the receiver hung"
    assert isinstance(outcome.get("error"), CodecError)
    sender, frame = guest.receive(2)
    assert sender == "host"
    abort = codec.decode(frame, codec.Keyring())
    assert isinstance(abort, Abort) and "CodecError" in abort.reason
    guest.close()


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_mutated_valid_frames_never_crash_the_receiver(public_key, data) -> None:
    frame = bytearray(_valid_key_frame(public_key))
    position = data.draw(st.integers(0, len(frame) - 1))
    frame[position] ^= data.draw(st.integers(1, 255))
    network = MemoryNetwork()
    guest = network.transport("guest")
    quick = RunSettings(timeout=0.05, connect_timeout=2, allow_weak_keys=True)
    thread, outcome = _run_host(_host_session(network, quick))
    guest.connect(["host"], 2)
    guest.send("host", bytes(frame))
    thread.join(timeout=10)
    assert not thread.is_alive(), "the receiver hung"
    error = outcome.get("error")
    # refused as malformed, refused by the protocol, or valid and then waiting in vain
    assert isinstance(error, CodecError | ProtocolError | PeerTimeoutError), repr(error)
    guest.close()


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ({"sender": "mallory"}, "authenticated as 'guest'"),
        ({"receiver": "other"}, "addressed to 'other'"),
        ({"job_id": "another-job#0"}, "another job"),
    ],
)
def test_spoofed_or_misdirected_messages_are_refused(public_key, header, message) -> None:
    network = MemoryNetwork()
    guest = network.transport("guest")
    thread, outcome = _run_host(_host_session(network))
    guest.connect(["host"], 2)
    fields = {"job_id": step_job_id(JOB, 0)} | header
    guest.send("host", _valid_key_frame(public_key, **fields))
    thread.join(timeout=10)
    error = outcome.get("error")
    assert isinstance(error, CodecError) and message in str(error)


def test_a_message_for_the_next_step_waits_for_it() -> None:
    network = MemoryNetwork()
    guest_transport = network.transport("guest")
    owners = [
        SumKeyOwner(
            "guest",
            step_job_id(JOB, step),
            contributors=["host"],
            values=[2.0],
            max_abs=10.0,
            key_length=512,
            allow_weak_key=True,
        )
        for step in (0, 1)
    ]
    host = _host_session(network)
    results: list[object] = []

    def play_host() -> None:
        with host:
            for step in (0, 1):
                role = _contributor(step)
                results.append(host.run(role, step, "secure_sum"))

    keys = [owner.start()[0] for owner in owners]
    guest_transport.connect(["host"], 2)
    # the key of step 1 overtakes the key of step 0
    guest_transport.send("host", codec.encode(keys[1]))
    guest_transport.send("host", codec.encode(keys[0]))
    thread = threading.Thread(target=play_host)
    thread.start()
    keyring = codec.Keyring([owner.public_key for owner in owners])
    for step, owner in enumerate(owners):
        _, frame = guest_transport.receive(5)
        partial = codec.decode(frame, keyring, allow_weak_keys=True)
        assert partial.job_id == step_job_id(JOB, step)
        (result,) = owner.receive(partial)
        guest_transport.send("host", codec.encode(result))
    thread.join(timeout=10)
    assert [np.asarray(r).tolist() for r in results] == [[3.0], [3.0]]
    guest_transport.close()


def test_a_peer_that_stays_silent_is_named_in_the_timeout() -> None:
    network = MemoryNetwork()
    guest = network.transport("guest")
    thread, outcome = _run_host(_host_session(network))
    guest.connect(["host"], 2)
    thread.join(timeout=10)
    error = outcome.get("error")
    assert isinstance(error, PeerTimeoutError) and "nothing from guest within 0.5 s" in str(error)
    assert isinstance(error, VflError)
    guest.close()
