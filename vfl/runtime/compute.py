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

Arguments the crypto layer marks :class:`crypto.parallel.Resident` (a key's primes
and modulus, the ciphertexts every chunk of a matrix product reads) are scattered to
every worker once (``client.scatter(..., broadcast=True, hash=False)``) and passed to
later tasks as the resulting Dask future: one copy per worker for the executor's
lifetime (one job) instead of one per task.  They go through this executor's client
only, that is to the party's own scheduler.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from crypto.parallel import Resident, parallel_config
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


class _Scattered:
    """One resident object on the cluster and the Dask future of its copy.

    The object is kept alive: the cache's key is its ``id``.
    """

    __slots__ = ("future", "value")

    def __init__(self, value: object, future: Any) -> None:
        self.value = value
        self.future = future


class ClusterExecutor(Executor):
    """A :class:`concurrent.futures.Executor` over a Dask client, for :mod:`crypto.parallel`.

    Every call is a new task (``pure=False``), and ``_max_workers`` (which
    :func:`crypto.parallel.effective_workers` reads to cut work into pieces) is
    ``workers``, by default the cluster's thread count now.  Copies (``copy.deepcopy``,
    so :func:`sklearn.base.clone`) share this executor and its client.

    Arguments wrapped in :class:`crypto.parallel.Resident` are scattered to every
    worker on first use and replaced by their Dask future in this and later tasks; the
    last :attr:`RESIDENT_SLOTS` objects stay on the cluster (least recently used
    first out).  A task whose resident data was lost with its workers is resubmitted
    once with a fresh copy.

    Parameters
    ----------
    client : distributed.Client
    workers : int, optional
        How many pieces to cut each operation into.
    resident : bool, default False
        Keep :class:`~crypto.parallel.Resident` arguments on the workers (scattered once)
        instead of shipping them with every task.  Off by default: measured, it saves
        bytes (~250 per task; the ciphertexts of ``X.T @ ev``'s tables plan) but no wall
        time at 4,000 values, and a worker killed while tasks wait on its copies has
        once left a round waiting for more than 60 s (once in seven runs of a loss test),
        where per-task arguments are simply retried by Dask.

    Attributes
    ----------
    scatters : int
        How many objects this executor has scattered so far.
    """

    RESIDENT_SLOTS = 16
    """How many resident objects stay scattered at once."""

    def __init__(self, client: Any, workers: int | None = None, *, resident: bool = False) -> None:
        self.client = client
        self._inner: Executor = client.get_executor(pure=False)
        if workers is None:
            workers = sum(client.nthreads().values())
        self._max_workers = max(1, int(workers))
        self.accepts_resident = resident
        self.scatters = 0
        self._resident: OrderedDict[int, _Scattered] = OrderedDict()
        self._resident_lock = threading.Lock()

    def _future_of(self, value: object) -> Any:
        """The Dask future of ``value``'s copy on the workers (scattered on first use)."""
        with self._resident_lock:
            entry = self._resident.get(id(value))
            # a copy lost with every worker holding it is "cancelled": scatter it again
            if entry is not None and entry.value is value and entry.future.status == "finished":
                self._resident.move_to_end(id(value))
                return entry.future
            # a list would be scattered element by element: wrap it in a one-item list
            future = self.client.scatter([value], broadcast=True, hash=False)[0]
            self.scatters += 1
            self._resident[id(value)] = _Scattered(value, future)
            while len(self._resident) > self.RESIDENT_SLOTS:
                # tasks already submitted keep their data alive on the scheduler
                _, old = self._resident.popitem(last=False)
                old.future.release()
            return future

    def resident_futures(self) -> list[Any]:
        """The Dask futures of the resident copies on the cluster now (oldest first)."""
        with self._resident_lock:
            return [entry.future for entry in self._resident.values()]

    def _forget(self, values: list[object]) -> None:
        with self._resident_lock:
            for value in values:
                entry = self._resident.get(id(value))
                if entry is not None and entry.value is value:
                    del self._resident[id(value)]
                    entry.future.release()

    def _place(self, args: tuple[Any, ...]) -> tuple[tuple[Any, ...], list[object]]:
        """``args`` with resident values replaced by futures, and those values."""
        values = [a.value for a in args if isinstance(a, Resident)]
        if not self.accepts_resident:
            return tuple(a.value if isinstance(a, Resident) else a for a in args), []
        placed = tuple(self._future_of(a.value) if isinstance(a, Resident) else a for a in args)
        return placed, values

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
        outer: Future[T] = Future()
        outer.set_running_or_notify_cancel()
        self._submit(outer, fn, args, kwargs, retry=True)
        return outer

    def _submit(
        self,
        outer: Future[T],
        fn: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        retry: bool,
    ) -> None:
        """Submit ``fn`` to the cluster; its outcome goes to ``outer``."""
        try:
            placed, values = self._place(args)
            inner = self._inner.submit(fn, *placed, **kwargs)
        except Exception as error:  # a client already closed by a lost scheduler raises here
            if not retry:  # a resubmission, off the caller's thread: report every error
                distributed = type(error).__module__.split(".")[0] == "distributed"
                lost = self._lost(f"{type(error).__name__}: {error}")
                outer.set_exception(lost if distributed else error)
                return
            if type(error).__module__.split(".")[0] != "distributed":
                raise
            raise self._lost(f"{type(error).__name__}: {error}") from error

        def again(what: str) -> None:
            # resident data lost with its workers: forget it, scatter a fresh copy once
            # (from a thread of our own: this callback runs in the client's event loop)
            if not (retry and values):
                outer.set_exception(self._lost(what))
                return
            self._forget(values)
            threading.Thread(
                target=self._submit,
                args=(outer, fn, args, kwargs),
                kwargs={"retry": False},
                name="vfl-dask-resubmit",
                daemon=True,
            ).start()

        def relay(done: Future[T]) -> None:
            if done.cancelled():
                again("the task was cancelled")
                return
            error = done.exception()
            if error is None:
                outer.set_result(done.result())
            elif type(error).__module__.split(".")[0] == "distributed":
                again(f"{type(error).__name__}: {error}")
            else:
                outer.set_exception(error)

        inner.add_done_callback(relay)

    def _lost(self, what: str) -> ComputeError:
        address = getattr(self.client.scheduler, "address", "?")
        return ComputeError(
            f"the Dask cluster of scheduler {address} failed during an operation ({what}); "
            "restart the scheduler and its workers, then rerun every party with --resume"
        )

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop submitting and release the resident copies.

        ``wait=False`` cancels the tasks still pending.
        """
        self._inner.shutdown(wait=wait and not cancel_futures)
        with self._resident_lock:
            entries = list(self._resident.values())
            self._resident.clear()
        for entry in entries:
            with contextlib.suppress(Exception):  # a closed client: nothing left to free
                entry.future.release()


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
