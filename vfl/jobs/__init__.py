"""Jobs: the job file (:mod:`~vfl.jobs.jobfile`), running it (:mod:`~vfl.jobs.run`), checkpoints.

The names of :mod:`vfl.jobs.run` stay importable as ``vfl.jobs.X``.
"""

from vfl.jobs.run import (
    PartyReport,
    build_role,
    model_features,
    run_party,
    simulate_job,
    write_json_atomically,
)

__all__ = [
    "PartyReport",
    "build_role",
    "model_features",
    "run_party",
    "simulate_job",
    "write_json_atomically",
]
