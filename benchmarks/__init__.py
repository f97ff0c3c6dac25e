"""Benchmark suites of the VFL engine, run with ``python -m benchmarks <suite>``.

Suites
------
paillier
    This project's :mod:`crypto.paillier` against python-paillier (``phe``) in the
    same run: key generation, encryption, decryption, addition, scalar
    multiplication and ``X.T @ ev``.  See ``benchmarks/README.md``.
psi
    Private set intersection: both parties as separate ``vfl run`` processes over
    mutual TLS on loopback (10k, 100k and 1M ids per side, 50% overlap), against
    openmined-psi's full protocol in the same run.
"""
