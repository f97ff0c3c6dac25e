"""Where a party's heavy crypto runs: this machine's pools or a Dask cluster.

A job file's party may carry a ``compute`` table::

    [[parties]]
    name = "bank-a"
    ...
    compute = { engine = "dask", scheduler = "tls://10.0.0.5:8786", ca_file = "certs/ca.crt",
                cert_file = "certs/bank-a.crt", key_file = "certs/bank-a.key" }

``engine = "local"`` (the default) keeps today's behaviour: thread and process pools
of this machine (:mod:`crypto.parallel`), with ``n_jobs`` as the default worker count
of the steps that set none.  ``engine = "dask"`` connects a
:class:`distributed.Client` to ``scheduler`` once per job and runs every step inside
``parallel_config(executor=...)``, so every heavy kernel (encryption, decryption,
matrix products, packing, PSI exponentiations, binning sums) runs on the cluster's
workers; ``n_jobs`` is then how many pieces each operation is cut into (default: the
cluster's thread count when the job starts).  See ``docs/dask.md``.

The kernels are module-level functions of plain numbers; tasks are submitted with
``pure=False`` (every call is a new task: two identical calls drawing randomness must
not share a result).  What reaches the workers is what the kernels need, which
includes private-key material for decryption: run the party's own workers, and use a
``tls://`` scheduler between machines.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from crypto.parallel import parallel_config
from vfl.exceptions import ComputeError
from vfl.runtime.logs import event

__all__ = [
    "ENGINES",
    "ClusterExecutor",
    "ComputeConfig",
    "ComputeError",
    "compute_context",
    "connect_dask",
]

LOGGER = logging.getLogger("vfl.compute")
ENGINES = ("local", "dask")
SCHEMES = ("tcp://", "tls://")
TLS_FILES = ("ca_file", "cert_file", "key_file")
T = TypeVar("T")


@dataclass(frozen=True)
class ComputeConfig:
    """A party's ``compute`` table.

    Attributes
    ----------
    engine : {"local", "dask"}
    scheduler : str or None
        ``tcp://host:port`` or ``tls://host:port`` (``engine = "dask"`` only).
    ca_file, cert_file, key_file : pathlib.Path or None
        TLS files for a ``tls://`` scheduler (the CA that signed the cluster's
        certificates, this client's certificate and key).
    n_jobs : int or None
        Local: the default worker count.  Dask: the pieces each operation is cut into.
    """

    engine: str = "local"
    scheduler: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    n_jobs: int | None = None

    def files(self) -> tuple[tuple[str, Path], ...]:
        """The TLS files this table names, as ``(key, path)``."""
        named = (("ca_file", self.ca_file), ("cert_file", self.cert_file))
        return tuple((k, v) for k, v in (*named, ("key_file", self.key_file)) if v is not None)


class ClusterExecutor(Executor):
    """A :class:`concurrent.futures.Executor` over a Dask client, for :mod:`crypto.parallel`.

    Every call is a new task (``pure=False``), and ``_max_workers`` (which
    :func:`crypto.parallel.effective_workers` reads to cut work into pieces) is
    ``workers``, by default the cluster's thread count now.  Copies (``copy.deepcopy``,
    so :func:`sklearn.base.clone`) share this executor and its client.

    Parameters
    ----------
    client : distributed.Client
    workers : int, optional
        How many pieces to cut each operation into.
    """

    def __init__(self, client: Any, workers: int | None = None) -> None:
        self.client = client
        self._inner: Executor = client.get_executor(pure=False)
        if workers is None:
            workers = sum(client.nthreads().values())
        self._max_workers = max(1, int(workers))

    def __deepcopy__(self, memo: dict[int, Any]) -> ClusterExecutor:
        return self

    def __repr__(self) -> str:
        return f"ClusterExecutor({self.client.scheduler.address!r}, workers={self._max_workers})"

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Run ``fn(*args, **kwargs)`` as a task on the cluster.

        The kernel's own exceptions come back as they are; the cluster's failures (a
        scheduler gone, so the task is cancelled; a task that killed its workers
        ``allowed-failures`` times) come back as :class:`ComputeError`.
        """
        try:
            inner = self._inner.submit(fn, *args, **kwargs)
        except Exception as error:  # a client already closed by a lost scheduler raises here
            if type(error).__module__.split(".")[0] == "distributed":
                raise self._lost(f"{type(error).__name__}: {error}") from error
            raise
        outer: Future[T] = Future()
        outer.set_running_or_notify_cancel()

        def relay(done: Future[T]) -> None:
            if done.cancelled():
                outer.set_exception(self._lost("the task was cancelled"))
                return
            error = done.exception()
            if error is None:
                outer.set_result(done.result())
            elif type(error).__module__.split(".")[0] == "distributed":
                outer.set_exception(self._lost(f"{type(error).__name__}: {error}"))
            else:
                outer.set_exception(error)

        inner.add_done_callback(relay)
        return outer

    def _lost(self, what: str) -> ComputeError:
        address = getattr(self.client.scheduler, "address", "?")
        return ComputeError(
            f"the Dask cluster of scheduler {address} failed during an operation ({what}); "
            "restart the scheduler and its workers, then rerun every party with --resume"
        )

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop submitting (``wait=False`` cancels the tasks still pending)."""
        self._inner.shutdown(wait=wait and not cancel_futures)


def _security(config: ComputeConfig) -> Any:
    if config.scheduler is None or not config.scheduler.startswith("tls://"):
        return None
    security = importlib.import_module("distributed.security")  # untyped: used as Any
    return security.Security(
        tls_ca_file=None if config.ca_file is None else str(config.ca_file),
        tls_client_cert=None if config.cert_file is None else str(config.cert_file),
        tls_client_key=None if config.key_file is None else str(config.key_file),
        require_encryption=True,
    )


def connect_dask(config: ComputeConfig, *, party: str, timeout: float) -> Any:
    """A :class:`distributed.Client` connected to ``config.scheduler`` with a worker.

    Raises
    ------
    ComputeError
        If ``distributed`` is missing, the scheduler cannot be reached within
        ``timeout`` seconds or has no worker; the message names the address and the fix.
    """
    assert config.scheduler is not None
    address = config.scheduler
    try:
        distributed = importlib.import_module("distributed")  # untyped: used as Any
    except ImportError:
        raise ComputeError(
            f"{party}: compute.engine = 'dask' needs the distributed package: "
            "pip install 'vfl-engine[dask]' (or pip install distributed)"
        ) from None
    try:
        client = distributed.Client(
            address, security=_security(config), timeout=timeout, set_as_default=False
        )
    except Exception as error:  # OSError, TimeoutError, ssl.SSLError, CommClosedError...
        raise ComputeError(
            f"{party}: cannot reach the Dask scheduler {address} (compute.scheduler) within "
            f"{timeout:g} s: {error}. Start it (dask scheduler --port PORT) and its workers, "
            "check the address and the firewall (and the TLS files of a tls:// "
            "scheduler), or set compute.engine = 'local'"
        ) from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError) as error:
        client.close()
        raise ComputeError(
            f"{party}: the Dask scheduler {address} has no worker after {timeout:g} s "
            f"({type(error).__name__}); start some: dask worker {address}"
        ) from None
    return client


@contextlib.contextmanager
def compute_context(
    config: ComputeConfig, *, party: str, timeout: float = 30.0
) -> Iterator[Executor | None]:
    """Run the block with ``config``'s compute: a Dask cluster or local pools.

    Yields the executor in force (``None`` for local pools).  A Dask client is
    connected on entry and closed on exit.
    """
    if config.engine != "dask":
        if config.n_jobs is None:
            yield None
        else:
            with parallel_config(n_jobs=config.n_jobs):
                yield None
        return
    client = connect_dask(config, party=party, timeout=timeout)
    try:
        executor = ClusterExecutor(client, config.n_jobs)
        threads = client.nthreads()
        event(
            LOGGER,
            "dask cluster connected",
            party=party,
            scheduler=config.scheduler,
            workers=len(threads),
            threads=sum(threads.values()),
            pieces=executor._max_workers,
        )
        try:
            with parallel_config(n_jobs=executor._max_workers, executor=executor):
                yield executor
        finally:
            executor.shutdown(wait=False)
    finally:
        client.close()
        event(LOGGER, "dask cluster closed", party=party, scheduler=config.scheduler)
