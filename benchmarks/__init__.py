"""Benchmark suites of the VFL engine, run with ``python -m benchmarks <suite>``.

Suites
------
paillier
    This project's :mod:`crypto.paillier` against python-paillier (``phe``) in the
    same run: key generation, encryption, decryption, addition, scalar
    multiplication and ``X.T @ ev``.  See ``benchmarks/README.md``.
"""
