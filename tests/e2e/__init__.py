"""Whole jobs: vfl simulate, vfl run processes over TLS, the demo, examples, faults, the audit."""
