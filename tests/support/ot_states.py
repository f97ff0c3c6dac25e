"""OT-extension states for crypto tests: one base-OT setup per module, fresh copies per use.

The setup (512 X25519 base OTs) is the expensive part; a saved pair of states is
restored for each test so that no two tests share instance counters.
"""

from __future__ import annotations

from crypto.chosen_ot import (
    OtReceiverState,
    OtSenderState,
    setup_finish,
    setup_respond,
    setup_start,
)

SavedStates = tuple[bytes, bytes]


def saved_setup(key: bytes) -> SavedStates:
    """Run the setup once and save both parties' states (receiver, sender)."""
    start, point = setup_start(key)
    sender, points = setup_respond(point, key)
    return setup_finish(start, points).to_bytes(), sender.to_bytes()


def fresh_states(saved: SavedStates) -> tuple[OtReceiverState, OtSenderState]:
    """Independent copies of the saved states, counters at their saved values."""
    return OtReceiverState.from_bytes(saved[0]), OtSenderState.from_bytes(saved[1])
