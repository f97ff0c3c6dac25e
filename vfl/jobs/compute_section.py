"""The ``compute`` table of a job file's party: parsed into a :class:`ComputeConfig`.

Where the table's settings take effect is :mod:`vfl.runtime.compute`; this module only
reads and checks them (it lives with the job files because it uses the steps'
:class:`~vfl.steps.base.Section` reader).
"""

from __future__ import annotations

from pathlib import Path

from vfl.runtime.compute import ENGINES, SCHEMES, TLS_FILES, ComputeConfig
from vfl.steps.base import Section, non_zero_workers

__all__ = ["parse_compute"]


def parse_compute(path: Path, where: str, table: object) -> ComputeConfig:
    """Read a ``compute`` table (``where`` is e.g. ``"parties[0].compute"``).

    Raises
    ------
    JobFileError
        Naming the key, the bad value and the fix; unknown keys are refused.

    Examples
    --------
    >>> parse_compute(Path("job.toml"), "parties[0].compute", {"engine": "dask"})
    Traceback (most recent call last):
    ...
    vfl.exceptions.JobFileError: job.toml: parties[0].compute.scheduler: engine = "dask" \
needs the scheduler's address, e.g. scheduler = "tcp://10.0.0.5:8786" (the address \
`dask scheduler` prints)
    """
    section = Section(path, where, table)
    engine = section.take(
        "engine",
        str,
        "local",
        lambda v: None if v in ENGINES else f"{v!r} is not one of {ENGINES}",
    )
    scheduler = section.take(
        "scheduler",
        str,
        None,
        lambda v: (
            None
            if v.startswith(SCHEMES) and len(v) > len("tcp://")
            else f"{v!r} must be tcp://host:port or tls://host:port (the address "
            "`dask scheduler` prints)"
        ),
    )
    files = {key: section.path_value(key, required=False) for key in TLS_FILES}
    n_jobs = section.take("n_jobs", int, None, non_zero_workers)
    section.finish()
    if engine == "local":
        for key in ("scheduler", *files):
            if (scheduler if key == "scheduler" else files[key]) is not None:
                raise section.error(
                    key, f'is for engine = "dask"; set engine = "dask" or remove {key}'
                )
        return ComputeConfig(n_jobs=n_jobs)
    if scheduler is None:
        raise section.error(
            "scheduler",
            'engine = "dask" needs the scheduler\'s address, e.g. scheduler = '
            '"tcp://10.0.0.5:8786" (the address `dask scheduler` prints)',
        )
    if n_jobs is not None and n_jobs < 0:
        raise section.error(
            "n_jobs",
            f"{n_jobs} counts this machine's cores; with a Dask cluster give a positive "
            "number of pieces per operation, or leave it out (the cluster's thread count)",
        )
    if scheduler.startswith("tcp://"):
        for key, value in files.items():
            if value is not None:
                raise section.error(
                    key,
                    f"is for a tls:// scheduler, and scheduler is {scheduler!r}; use "
                    f"tls:// or remove {key}",
                )
    else:  # Dask's TLS is mutual: the scheduler checks this client's certificate too
        for key, what in (
            ("ca_file", "the CA certificate that signed the cluster's certificates"),
            ("cert_file", "this party's client certificate, signed by that CA"),
            ("key_file", "the private key of cert_file"),
        ):
            if files[key] is None:
                raise section.error(key, f"a tls:// scheduler needs {key}: {what} (docs/dask.md)")
    return ComputeConfig(engine, scheduler, n_jobs=n_jobs, **files)
