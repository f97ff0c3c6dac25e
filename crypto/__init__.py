"""The mathematics: Paillier encryption, fixed-point encoding and fast exponentiation.

No I/O and no machine learning live here.  Sub-modules:

* :mod:`crypto.paillier` -- keys, encrypted numbers and vectors, packing, masking,
  serialisation;
* :mod:`crypto.encoding` -- fixed-point encoding (phe's number format);
* :mod:`crypto.fixed_base`, :mod:`crypto.multiexp` -- exponentiation algorithms;
* :mod:`crypto.hash_to_curve` -- RFC 9380 hashing to curve25519;
* :mod:`crypto.ecdh`, :mod:`crypto.rsa_blind` -- the primitives of private set
  intersection (X25519 commutative encryption, RSA blind signatures);
* :mod:`crypto.parallel` -- where heavy work runs (inline, threads, processes);
* :mod:`crypto.primes` -- CSPRNG primes;
* :mod:`crypto.exceptions` -- every error this package raises.
"""
