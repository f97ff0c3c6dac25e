"""Where heavy crypto work runs: inline, on a thread pool or on a process pool.

Every vectorised operation cuts its work into chunks and hands them to
:func:`run_chunks`, together with a *kernel*: a module-level function of plain
numbers, so that any :class:`concurrent.futures.Executor` can run it, including a
process pool or an executor that forwards work to other machines.

Which pool is the default depends on the kernel, because of a measured fact about
gmpy2: ``powmod_base_list`` and ``powmod_exp_list`` release the GIL (two threads
run 1.95x one thread on 2 cores) while a plain ``a * b % m`` holds it (1.0x).

* Kernels made of those list powmods (decryption, scalar multiplication, packing)
  run on a shared :class:`~concurrent.futures.ThreadPoolExecutor`: no pickling and
  the private key never leaves the process.  Its threads also set gmpy2's
  ``allow_release_gil``, under which ``a * b`` and ``% m`` release the GIL too;
  elementwise additions (``ev + ev``) use it when :func:`parallel_config` asks for
  several workers (:func:`local_workers`), reaching about 1.2-1.6x on 2 cores (the
  loop between the gmpy2 calls still holds the GIL; pickling both ways would cost
  more than the multiplication).
* Kernels made of table look-ups and multiplications (encryption with a
  fixed-base table, multi-exponentiation) run on a shared
  :class:`~concurrent.futures.ProcessPoolExecutor` (``forkserver`` start method),
  the only way they scale past one core.

``n_jobs`` follows scikit-learn: ``1`` (or ``None`` outside :func:`parallel_config`)
runs inline, ``-1`` uses every core, ``-2`` all but one.  An explicit ``executor``
is used for every kernel, whatever its kind.

Process-pool workers never import the caller's ``__main__`` module: kernels are
module-level functions of :mod:`crypto`, so the workers are started with
multiprocessing's preparation data minus its ``init_main_from_name`` /
``init_main_from_path`` entries (see :func:`_library_context`).  A script that calls a
vector operation with ``n_jobs=-1`` therefore needs no
``if __name__ == "__main__":`` guard; the flip side is that an ``executor`` argument,
not the default pools, is the way to run kernels defined in ``__main__``.

Process-pool workers die with the process that made the pool: each watches its
owner's pid and exits within :data:`ORPHAN_POLL_SECONDS` once it is gone, so a party
killed with ``kill -9`` leaves no worker behind (a normal exit shuts the pools down
at once).
"""

from __future__ import annotations

import atexit
import contextvars
import multiprocessing
import multiprocessing.context
import multiprocessing.spawn
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import gmpy2

__all__ = [
    "Parallelism",
    "Resident",
    "chunk_bounds",
    "parallel_config",
    "resolve_n_jobs",
    "run_chunks",
]

T = TypeVar("T")
V = TypeVar("V")


class Resident(Generic[V]):
    """A kernel argument that lives as long as the job: key material, a shared table.

    Callers of :func:`run_chunks` wrap an argument that is large or reused by many
    tasks (a private key's primes, the ciphertexts every chunk of a matrix product
    reads) so that an executor able to keep data on its workers ships it once and
    passes a reference in every later task.  Such an executor declares
    ``accepts_resident = True`` and receives the wrappers as they are (see
    :class:`vfl.runtime.compute.ClusterExecutor`); inline runs, the local pools and
    every other executor receive :attr:`value` itself, so nothing changes locally.

    The wrapped object must not be mutated while the job runs: an executor may key
    its copy by the object's identity.

    Parameters
    ----------
    value : object
        The argument.

    Examples
    --------
    >>> run_chunks(pow, [(Resident(2), 10), (Resident(3), 3)], releases_gil=True)
    [1024, 27]
    """

    __slots__ = ("value",)

    def __init__(self, value: V) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Resident({type(self.value).__name__} at {id(self.value):#x})"

    def __reduce__(self) -> tuple[Any, ...]:  # a pickled wrapper (a plain executor) unwraps
        return (_identity, (self.value,))


def _identity(value: T) -> T:
    return value


def unwrap(arguments: tuple[Any, ...]) -> tuple[Any, ...]:
    """``arguments`` with every :class:`Resident` replaced by its value."""
    return tuple(a.value if isinstance(a, Resident) else a for a in arguments)


@dataclass(frozen=True)
class Parallelism:
    """Default parallel settings for crypto operations in the current context.

    Attributes
    ----------
    n_jobs : int or None
        Worker count (scikit-learn semantics; ``None``: inline).
    executor : concurrent.futures.Executor or None
        Run every kernel on this executor.

    Examples
    --------
    >>> with parallel_config(n_jobs=2) as settings:
    ...     settings
    Parallelism(n_jobs=2, executor=None)
    """

    n_jobs: int | None = None
    executor: Executor | None = None


_SETTINGS: contextvars.ContextVar[Parallelism | None] = contextvars.ContextVar(
    "crypto_parallelism", default=None
)
_POOLS: dict[tuple[str, int], Executor] = {}
_POOLS_LOCK = threading.Lock()


@contextmanager
def parallel_config(
    n_jobs: int | None = None, executor: Executor | None = None
) -> Iterator[Parallelism]:
    """Set the default ``n_jobs`` / ``executor`` for crypto operations in a block.

    Operators such as ``ev * x`` or ``X.T @ ev`` take no keyword arguments; they
    use these defaults.

    Parameters
    ----------
    n_jobs : int, optional
        Default worker count (``-1``: every core).
    executor : concurrent.futures.Executor, optional
        Default executor for every kernel.

    Yields
    ------
    Parallelism
        The settings in force inside the block.

    Examples
    --------
    >>> from crypto.parallel import parallel_config, resolve_n_jobs
    >>> with parallel_config(n_jobs=3):
    ...     resolve_n_jobs(None)
    3
    >>> resolve_n_jobs(None)  # outside the block: inline
    1
    """
    settings = Parallelism(n_jobs=n_jobs, executor=executor)
    token = _SETTINGS.set(settings)
    try:
        yield settings
    finally:
        _SETTINGS.reset(token)


def _settings() -> Parallelism:
    return _SETTINGS.get() or Parallelism()


def resolve_n_jobs(n_jobs: int | None) -> int:
    """Turn an ``n_jobs`` setting into a worker count (at least 1).

    Parameters
    ----------
    n_jobs : int or None
        A positive count, a negative one (``-1``: every core, ``-2``: all but
        one...) or ``None`` (the :func:`parallel_config` default, else 1).

    Returns
    -------
    int
        The number of workers.

    Raises
    ------
    ValueError
        If ``n_jobs`` is 0 or not an int.

    Examples
    --------
    >>> import os
    >>> resolve_n_jobs(None), resolve_n_jobs(4), resolve_n_jobs(-1) == (os.cpu_count() or 1)
    (1, 4, True)
    """
    if n_jobs is None:
        n_jobs = _settings().n_jobs
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a non-zero int or None, got {n_jobs!r}")
    cores = os.cpu_count() or 1
    if n_jobs < 0:
        return max(1, cores + 1 + n_jobs)
    return n_jobs


ORPHAN_POLL_SECONDS = 0.5
"""How often a process-pool worker checks that the process owning its pool is alive."""


def _owner_alive(owner: int) -> bool:
    try:
        os.kill(owner, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's (the pid was reused): treat as gone
        return False
    return True


def _watch_owner(owner: int) -> None:
    """Worker initializer: exit this worker as soon as ``owner`` (the pool's maker) is gone.

    A worker's parent is the forkserver, which outlives its clients only briefly; the
    watched pid is the process that created the pool, passed explicitly.
    """

    def watch() -> None:
        while _owner_alive(owner):
            time.sleep(ORPHAN_POLL_SECONDS)
        os._exit(0)  # no cleanup to run: the owner that waited for our results is gone

    threading.Thread(target=watch, name="crypto-owner-watch", daemon=True).start()


def _start_method() -> str:
    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"


_HIDE_MAIN: contextvars.ContextVar[bool] = contextvars.ContextVar("crypto_hide_main", default=False)
_MAIN_KEYS = ("init_main_from_name", "init_main_from_path")
_preparation_lock = threading.Lock()


def _install_preparation_filter() -> None:
    """Wrap :func:`multiprocessing.spawn.get_preparation_data` (once per process).

    The wrapper drops the entries that make a new process import the parent's
    ``__main__``, only while :data:`_HIDE_MAIN` is set in the calling context (that
    is, only while one of our own workers is being launched); every other caller
    gets the original data unchanged.
    """
    with _preparation_lock:
        original = multiprocessing.spawn.get_preparation_data
        if getattr(original, "_crypto_hides_main", False):
            return

        def get_preparation_data(name: str) -> dict[str, Any]:
            data: dict[str, Any] = original(name)
            if _HIDE_MAIN.get():
                for key in _MAIN_KEYS:
                    data.pop(key, None)
            return data

        get_preparation_data._crypto_hides_main = True  # type: ignore[attr-defined]
        multiprocessing.spawn.get_preparation_data = get_preparation_data


def _launch_hiding_main(launch: Callable[[Any], Any], process_obj: Any) -> Any:
    token = _HIDE_MAIN.set(True)
    try:
        return launch(process_obj)
    finally:
        _HIDE_MAIN.reset(token)


if _start_method() == "forkserver":
    _BaseProcess: Any = multiprocessing.context.ForkServerProcess
    _BaseContext: Any = multiprocessing.context.ForkServerContext
else:  # pragma: no cover - platforms without forkserver (Windows)
    _BaseProcess = multiprocessing.context.SpawnProcess
    _BaseContext = multiprocessing.context.SpawnContext


class _LibraryProcess(_BaseProcess):  # type: ignore[misc]
    """A pool worker launched without the parent's ``__main__`` in its preparation data."""

    @staticmethod
    def _Popen(process_obj: Any) -> Any:  # noqa: N802 (multiprocessing's name)
        return _launch_hiding_main(_BaseProcess._Popen, process_obj)


class _LibraryContext(_BaseContext):  # type: ignore[misc]
    Process = _LibraryProcess


def _library_context() -> multiprocessing.context.BaseContext:
    """A multiprocessing context whose processes never import ``__main__``.

    Every worker the pool starts, eagerly or later (a replacement, a lazy spawn on
    ``submit``), goes through :meth:`_LibraryProcess._Popen`, which launches it with
    the main-module entries hidden.  ``forkserver`` (``spawn`` where it is missing):
    both read the preparation data, and the forkserver process, when this call
    starts it, is launched with the same hidden entries.
    """
    _install_preparation_filter()
    return _LibraryContext()


def _shared_pool(kind: str, workers: int) -> Executor:
    key = (kind, workers)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            if kind == "thread":
                pool = ThreadPoolExecutor(
                    max_workers=workers,
                    thread_name_prefix="crypto",
                    initializer=_release_gil_in_thread,
                )
            else:
                context = _library_context()
                pool = ProcessPoolExecutor(
                    max_workers=workers,
                    mp_context=context,
                    initializer=_watch_owner,
                    initargs=(os.getpid(),),
                )
            _POOLS[key] = pool
        return pool


@atexit.register
def _shutdown_pools() -> None:
    with _POOLS_LOCK:
        for pool in _POOLS.values():
            pool.shutdown(wait=True, cancel_futures=True)
        _POOLS.clear()


def chunk_bounds(total: int, workers: int, min_chunk: int) -> list[tuple[int, int]]:
    """Cut ``range(total)`` into about ``4 * workers`` contiguous chunks.

    Chunks hold at least ``min_chunk`` items (except when ``total`` is smaller);
    one worker gets one chunk.

    Parameters
    ----------
    total : int
        Number of items.
    workers : int
        Number of workers.
    min_chunk : int
        Smallest worthwhile chunk.

    Returns
    -------
    list of tuple of int
        ``(start, stop)`` of each chunk, covering ``range(total)`` in order.

    Examples
    --------
    >>> chunk_bounds(10, 2, 1)
    [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]
    >>> chunk_bounds(10, 2, 4), chunk_bounds(10, 1, 1)
    ([(0, 5), (5, 10)], [(0, 10)])
    """
    if total <= 0:
        return []
    if workers <= 1:
        return [(0, total)]
    parts = max(1, min(4 * workers, total // max(1, min_chunk)))
    size = -(-total // parts)
    return [(start, min(start + size, total)) for start in range(0, total, size)]


def run_chunks(
    kernel: Callable[..., T],
    arguments: Sequence[tuple[Any, ...]],
    *,
    releases_gil: bool,
    n_jobs: int | None = None,
    executor: Executor | None = None,
) -> list[T]:
    """Run ``kernel(*args)`` for every tuple in ``arguments``; results keep their order.

    Parameters
    ----------
    kernel : callable
        A module-level function (so that process pools can pickle it).
    arguments : sequence of tuple
        One tuple of positional arguments per chunk; an argument wrapped in
        :class:`Resident` reaches the kernel unwrapped.
    releases_gil : bool
        Whether the kernel spends its time in GIL-releasing calls; selects the
        default pool kind.
    n_jobs : int, optional
        Worker count; see the module documentation.
    executor : concurrent.futures.Executor, optional
        Run on this executor instead of a default pool.

    Returns
    -------
    list
        One result per tuple of ``arguments``, in order.

    Examples
    --------
    >>> run_chunks(pow, [(2, 10), (3, 3)], releases_gil=True)
    [1024, 27]
    >>> run_chunks(pow, [(2, 10), (3, 3)], releases_gil=True, n_jobs=2)  # on threads
    [1024, 27]
    """
    if executor is None:
        executor = _settings().executor
    if executor is None:
        workers = resolve_n_jobs(n_jobs)
        if workers == 1 or len(arguments) <= 1:
            return [kernel(*unwrap(args)) for args in arguments]
        executor = _shared_pool("thread" if releases_gil else "process", workers)
    if not getattr(executor, "accepts_resident", False):
        arguments = [unwrap(args) for args in arguments]
    futures = [executor.submit(kernel, *args) for args in arguments]
    return [future.result() for future in futures]


def local_workers() -> int:
    """Workers for cheap kernels in the current context: 1 if a custom executor is set.

    Examples
    --------
    >>> with parallel_config(n_jobs=2):
    ...     local_workers()
    2
    >>> local_workers()
    1
    """
    settings = _settings()
    if settings.executor is not None:
        return 1
    return resolve_n_jobs(settings.n_jobs)


def _release_gil_in_thread() -> None:
    """Thread-pool initializer: let gmpy2 release the GIL in this thread's arithmetic.

    gmpy2 contexts are per thread; with ``allow_release_gil`` the reduction of a
    product modulo ``n**2`` runs without the GIL, so elementwise additions scale on
    threads (measured about 1.5x on 2 cores instead of 1.0x).
    """
    gmpy2.get_context().allow_release_gil = True


def effective_workers(n_jobs: int | None, executor: Executor | None) -> int:
    """How many workers to cut work for (a custom executor's own worker count)."""
    if executor is None:
        executor = _settings().executor
    if executor is not None:
        return max(1, int(getattr(executor, "_max_workers", 4)))
    return resolve_n_jobs(n_jobs)
