"""Role state machines of the federated protocols (PSI, hetero logistic regression).

A role takes a message and returns the messages to send; nothing in this package
does I/O, so every protocol can be tested, replayed and audited in one process.
It may import :mod:`crypto`, never :mod:`vfl`.  Sub-modules:

* :mod:`protocols.roles` -- the contract every role follows (:class:`~protocols.roles.Role`);
* :mod:`protocols.messages` -- the typed, frozen messages roles exchange;
* :mod:`protocols.secure_sum` -- the elementwise sum of every party's vector;
* :mod:`protocols.psi` -- private set intersection (ECDH and RSA blind signatures);
* :mod:`protocols.hetero_lr` -- hetero logistic regression (training and scoring);
* :mod:`protocols.exceptions` -- every error this package raises.
"""
