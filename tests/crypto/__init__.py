"""Tests of crypto/: Paillier, encodings, exponentiation, hashing to the curve, OT, RSA, ECDH."""
