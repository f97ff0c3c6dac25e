"""Tests of vfl/: codec, transports, runner, job files, certificates, estimators, metrics, CLI."""
