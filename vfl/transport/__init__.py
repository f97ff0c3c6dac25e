"""Transports: in-memory queues (one process) and TCP with mutual TLS 1.3 (processes, machines)."""

from vfl.transport.base import DEFAULT_MAX_MESSAGE_BYTES, Transport

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "Transport"]
