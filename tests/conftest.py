"""Shared fixtures: keys are expensive, so each is generated once per test session."""

from __future__ import annotations

import os

import phe
import pytest
from hypothesis import HealthCheck, settings

from crypto.paillier import PaillierPrivateKey, PaillierPublicKey, generate_paillier_keypair

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "long",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def keypair() -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    """A 1024-bit key pair (weak on purpose: fast tests)."""
    return generate_paillier_keypair(1024, allow_weak_key=True)


@pytest.fixture(scope="session")
def public_key(keypair: tuple[PaillierPublicKey, PaillierPrivateKey]) -> PaillierPublicKey:
    return keypair[0]


@pytest.fixture(scope="session")
def private_key(keypair: tuple[PaillierPublicKey, PaillierPrivateKey]) -> PaillierPrivateKey:
    return keypair[1]


@pytest.fixture(scope="session")
def other_keypair() -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    """A second, unrelated 1024-bit key pair."""
    return generate_paillier_keypair(1024, allow_weak_key=True)


@pytest.fixture(scope="session")
def keypair_2048() -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    """A default-size key pair, generated without any opt-in."""
    return generate_paillier_keypair()


@pytest.fixture(scope="session")
def phe_keypair() -> tuple[phe.PaillierPublicKey, phe.PaillierPrivateKey]:
    """A phe key pair (1024 bits) to check interoperability."""
    return phe.generate_paillier_keypair(n_length=1024)
