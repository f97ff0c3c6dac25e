"""The secure-sum roles, run against each other in one process under every interleaving."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.exceptions import ProtocolError, UnexpectedMessageError
from protocols.messages import SumPartial, SumPublicKey, SumResult
from protocols.secure_sum import SumContributor, SumKeyOwner
from tests.support.protocol_harness import run_roles

JOB = "job-1"
MAX_ABS = 1e9


def _roles(vectors: dict[str, np.ndarray], owner: str = "guest", key_length: int = 512):
    ring = [name for name in vectors if name != owner]
    roles = {
        owner: SumKeyOwner(
            owner,
            JOB,
            contributors=ring,
            values=vectors[owner],
            max_abs=MAX_ABS,
            key_length=key_length,
            allow_weak_key=True,
        )
    }
    for name in ring:
        roles[name] = SumContributor(
            name,
            JOB,
            key_owner=owner,
            ring=ring,
            values=vectors[name],
            max_abs=MAX_ABS,
            min_key_bits=512,
        )
    return roles


def _fixed(values: np.ndarray) -> np.ndarray:
    return np.rint(values * 2.0**32) / 2.0**32


@given(
    st.integers(min_value=1, max_value=4),
    st.integers(min_value=1, max_value=6),
    st.randoms(use_true_random=False),
)
def test_every_party_learns_the_sum_under_any_interleaving(contributors, length, rng) -> None:
    generator = np.random.default_rng(rng.getrandbits(32))
    names = ["guest"] + [f"host{i}" for i in range(1, contributors + 1)]
    vectors = {name: generator.normal(scale=1000, size=length) for name in names}
    roles = _roles(vectors)
    run_roles(roles, rng=rng)
    expected = vectors["guest"] + sum(_fixed(vectors[name]) for name in names[1:])
    for name, role in roles.items():
        assert role.done, name
        assert np.allclose(role.result, expected, rtol=0, atol=1e-6), name
    # every party holds exactly the same result
    assert all(np.array_equal(role.result, roles["guest"].result) for role in roles.values())


def test_transcript_shows_only_ciphertexts_and_the_total() -> None:
    vectors = {
        "guest": np.array([1.0, 2.0]),
        "host1": np.array([10.0, 20.0]),
        "host2": np.array([100.0, 200.0]),
    }
    roles = _roles(vectors)
    transcript = run_roles(roles)
    kinds = [(m.kind.name, m.sender, m.receiver) for m in transcript]
    assert kinds == [
        ("SUM_PUBLIC_KEY", "guest", "host1"),
        ("SUM_PUBLIC_KEY", "guest", "host2"),
        ("SUM_PARTIAL", "host1", "host2"),
        ("SUM_PARTIAL", "host2", "guest"),
        ("SUM_RESULT", "guest", "host1"),
        ("SUM_RESULT", "guest", "host2"),
    ]
    partials = [m for m in transcript if isinstance(m, SumPartial)]
    owner_key = roles["guest"].public_key
    assert all(m.public_key == owner_key and m.partial.public_key == owner_key for m in partials)
    # every encryption uses the public max_abs bound, never a data-dependent one
    assert {m.partial.bound for m in partials[:1]} == {int(MAX_ABS * 2**32)}
    # what reaches the key owner is re-randomised: not the deterministic sum of the previous hop
    deterministic = partials[0].partial + vectors["host2"]
    assert set(deterministic.ciphertexts).isdisjoint(partials[1].partial.ciphertexts)
    results = [m for m in transcript if isinstance(m, SumResult)]
    assert all(np.array_equal(m.totals, roles["guest"].result) for m in results)


def test_single_contributor_sends_straight_to_the_owner() -> None:
    roles = _roles({"guest": np.array([1.5]), "host": np.array([2.25])})
    transcript = run_roles(roles)
    assert [m.receiver for m in transcript if isinstance(m, SumPartial)] == ["guest"]
    assert roles["host"].result.tolist() == [3.75]


def _key_message(roles, receiver="host1"):
    return next(m for m in roles["guest"].start() if m.receiver == receiver)


def test_messages_from_the_wrong_party_or_state_are_refused() -> None:
    roles = _roles({"guest": np.ones(2), "host1": np.ones(2), "host2": np.ones(2)})
    key_message = _key_message(roles)
    host1 = roles["host1"]
    forged = SumPublicKey(
        job_id=JOB, sender="host2", receiver="host1", public_key=key_message.public_key, length=2
    )
    with pytest.raises(UnexpectedMessageError, match="host2"):
        host1.receive(forged)
    (partial,) = host1.receive(key_message)
    with pytest.raises(UnexpectedMessageError):
        host1.receive(key_message)  # the key twice
    with pytest.raises(UnexpectedMessageError):
        roles["guest"].receive(partial)  # host1 is not the last contributor
    early = SumResult(
        job_id=JOB, sender="guest", receiver="host2", totals=np.ones(2), contributors=3
    )
    with pytest.raises(UnexpectedMessageError, match="waiting"):
        roles["host2"].receive(early)


def test_inconsistent_inputs_are_refused() -> None:
    roles = _roles({"guest": np.ones(2), "host1": np.ones(3)})
    with pytest.raises(ProtocolError, match="columns differ"):
        roles["host1"].receive(_key_message(roles))
    with pytest.raises(ProtocolError, match="max_abs"):
        SumContributor("host1", JOB, key_owner="guest", ring=["host1"], values=[2e9], max_abs=1e9)
    with pytest.raises(ProtocolError, match="finite"):
        SumKeyOwner("guest", JOB, contributors=["host1"], values=[np.nan], max_abs=1.0)
    with pytest.raises(ProtocolError, match="distinct"):
        SumKeyOwner("guest", JOB, contributors=["guest"], values=[1.0], max_abs=1.0)


def test_contributors_refuse_a_short_key() -> None:
    owner = SumKeyOwner(
        "guest",
        JOB,
        contributors=["host"],
        values=[1.0],
        max_abs=10.0,
        key_length=512,
        allow_weak_key=True,
    )
    host = SumContributor("host", JOB, key_owner="guest", ring=["host"], values=[1.0], max_abs=10.0)
    (key_message,) = owner.start()
    with pytest.raises(ProtocolError, match="512-bit key is below the 2048-bit minimum"):
        host.receive(key_message)


def test_partial_under_another_key_is_refused() -> None:
    roles = _roles({"guest": np.ones(1), "host1": np.ones(1), "host2": np.ones(1)})
    other = _roles({"guest": np.ones(1), "host1": np.ones(1), "host2": np.ones(1)})
    foreign = other["host1"].receive(_key_message(other))[0]
    roles["host2"].receive(foreign)  # buffered until the owner's key arrives
    with pytest.raises(ProtocolError, match="another key"):
        roles["host2"].receive(_key_message(roles, "host2"))


def test_a_partial_may_overtake_the_key() -> None:
    roles = _roles({"guest": np.ones(1), "host1": np.ones(1), "host2": np.ones(1)})
    key_messages = {m.receiver: m for m in roles["guest"].start()}
    (partial,) = roles["host1"].receive(key_messages["host1"])
    assert roles["host2"].receive(partial) == []  # waits for the key
    assert roles["host2"].waiting_for == ("guest",)
    (final,) = roles["host2"].receive(key_messages["host2"])
    assert final.receiver == "guest"
    results = roles["guest"].receive(final)
    assert len(results) == 2 and roles["guest"].result.tolist() == [3.0]


def test_two_contributors_around_a_third_cannot_read_its_vector() -> None:
    # host1 and host3 collude against host2: host1 knows what it sent host2, host3 what
    # host2 sent it.  Adding host2's vector as a plaintext keeps the ciphertext's
    # randomness, so without re-randomisation the quotient is g^v = 1 + v n (mod n^2),
    # which reads v directly.  Every hop re-randomises: the quotient is not of that form.
    secret = np.array([123.25, -7.5, 4096.0])
    vectors = {
        "guest": np.zeros(3),
        "host1": np.array([1.0, 2.0, 3.0]),
        "host2": secret,
        "host3": np.array([5.0, 6.0, 7.0]),
    }
    transcript = run_roles(_roles(vectors))
    partials = {(m.sender, m.receiver): m.partial for m in transcript if isinstance(m, SumPartial)}
    sent_by_host1 = partials[("host1", "host2")]
    sent_by_host2 = partials[("host2", "host3")]
    n = sent_by_host1.public_key.n
    square = n * n
    for before, after, value in zip(
        sent_by_host1.ciphertexts, sent_by_host2.ciphertexts, _fixed(secret), strict=True
    ):
        quotient = after * pow(before, -1, square) % square
        attack = (quotient - 1) // n  # what the colluders would read as host2's mantissa
        assert (quotient - 1) % n != 0  # not 1 + v n: the colluders learn nothing
        assert attack != round(value * 2**32)


def test_every_partial_claims_the_public_bound_not_its_data() -> None:
    # the bound travels in the clear: after an addition it must not carry the
    # contributor's largest value (found by the transcript auditor)
    vectors = {
        "guest": np.zeros(2),
        "host1": np.array([1.0, -2.0]),
        "host2": np.array([873_877.99, 5.0]),
        "host3": np.array([0.5, 0.25]),
    }
    transcript = run_roles(_roles(vectors))
    per_party = round(MAX_ABS * 2**32)
    partials = [m for m in transcript if isinstance(m, SumPartial)]
    assert [m.partial.bound for m in partials] == [m.contributors * per_party for m in partials]
