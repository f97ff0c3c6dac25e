"""Transcripts: frames sent and received, paired and decoded as the receiver did."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from protocols.messages import Message, MessageKind
from tests.support.auditor.declared import KEY_KINDS
from vfl.runtime import codec


@dataclasses.dataclass(frozen=True)
class Wire:
    """One message on one connection: the frame as sent and received, decoded."""

    step: int
    sender: str
    receiver: str
    frame: bytes
    message: Message


def recorder_entries(entries: Iterable[Any]) -> list[dict[str, Any]]:
    """:class:`~vfl.transcript.TranscriptEntry` objects as ``read_transcript`` dicts."""
    return [
        {
            "direction": e.direction,
            "party": e.party,
            "peer": e.peer,
            "kind": e.message.kind.name,
            "frame": e.frame,
        }
        for e in entries
    ]


def pair_transcripts(entries: Iterable[Mapping[str, Any]]) -> list[Wire]:
    """Pair every party's sent frames with the receivers' received frames.

    Each party's entries are decoded in its own order with its own keyring, as its
    runner did.  Raises AssertionError unless, on every connection, the frames
    received are exactly the frames sent, in order.
    """
    by_party: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for entry in entries:
        by_party[str(entry["party"])].append(entry)
    sent: dict[tuple[str, str], list[bytes]] = defaultdict(list)
    received: dict[tuple[str, str], list[tuple[bytes, Message]]] = defaultdict(list)
    for party, items in by_party.items():
        keyring = codec.Keyring()
        for entry in items:
            frame, peer = bytes(entry["frame"]), str(entry["peer"])
            if entry["direction"] == "received":
                message = codec.decode(frame, keyring, allow_weak_keys=True)
                assert (message.sender, message.receiver) == (peer, party), message.describe()
                keyring.remember(message)
                received[(peer, party)].append((frame, message))
            else:
                assert entry["direction"] == "sent", entry["direction"]
                if MessageKind[str(entry["kind"])] in KEY_KINDS:
                    keyring.remember(codec.decode(frame, keyring, allow_weak_keys=True))
                sent[(party, peer)].append(frame)
    assert set(sent) == set(received), (sorted(sent), sorted(received))
    wire: list[Wire] = []
    for link in sorted(sent):
        frames = [frame for frame, _ in received[link]]
        assert frames == sent[link], f"{link}: frames received differ from frames sent"
        for frame, message in received[link]:
            step = int(message.job_id.rpartition("#")[2])
            wire.append(Wire(step, link[0], link[1], frame, message))
    return wire
