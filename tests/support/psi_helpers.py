"""Shared helpers of the PSI tests: generated id sets and role construction."""

from __future__ import annotations

import random

from protocols.psi import PsiGuest, PsiHost, PsiSettings
from protocols.roles import Role

JOB = "psi-test#0"


def phone_ids(count: int, seed: int, prefix: str = "+1-555-") -> list[str]:
    """``count`` distinct phone-number-like ids."""
    rng = random.Random(seed)
    numbers = rng.sample(range(10_000_000), count)
    return [f"{prefix}{n:07d}" for n in numbers]


def overlapping_sets(
    sizes: list[int], common: int, seed: int
) -> tuple[list[bytes], list[list[bytes]]]:
    """Guest ids and host id lists sharing ``common`` ids, each list shuffled."""
    rng = random.Random(seed)
    pool = phone_ids(common + sum(sizes), seed)
    shared, rest = pool[:common], pool[common:]
    sets = []
    for size in sizes:
        own, rest = rest[: size - common], rest[size - common :]
        items = [s.encode() for s in shared + own]
        rng.shuffle(items)
        sets.append(items)
    return sets[0], sets[1:]


def make_roles(
    guest_ids: list[bytes], host_ids: list[list[bytes]], settings: PsiSettings
) -> dict[str, Role]:
    hosts = [f"host-{j + 1}" for j in range(len(host_ids))]
    roles: dict[str, Role] = {
        "guest": PsiGuest("guest", JOB, hosts=hosts, ids=guest_ids, settings=settings)
    }
    for name, ids in zip(hosts, host_ids, strict=True):
        roles[name] = PsiHost(name, JOB, guest="guest", ids=ids, settings=settings)
    return roles
