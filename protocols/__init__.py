"""Role state machines of the federated protocols (PSI, hetero logistic regression).

A role takes a message and returns the messages to send; nothing in this package
does I/O, so every protocol can be tested, replayed and audited in one process.
The protocols arrive with the PSI and hetero-LR issues; today this package holds
only its place in the layering (it may import :mod:`crypto`, never :mod:`vfl`).
"""
