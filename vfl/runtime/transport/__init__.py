"""Transports: in-memory queues (one process) and TCP with mutual TLS 1.3 (processes, machines)."""

from vfl.runtime.transport.base import DEFAULT_MAX_MESSAGE_BYTES, Transport
from vfl.runtime.transport.memory import MemoryNetwork, MemoryTransport
from vfl.runtime.transport.tls import TlsTransport

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "MemoryNetwork",
    "MemoryTransport",
    "TlsTransport",
    "Transport",
]
