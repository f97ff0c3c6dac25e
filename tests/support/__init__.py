"""Helpers the tests share: the protocol harness, job files, PSI ids, references, the auditor."""
