"""A party's compute on a real Dask cluster (issue 21).

A real ``dask scheduler`` and two ``dask worker`` processes (one thread each) serve
the whole module.  The guest of a PSI + ``hetero_lr`` job (1024-bit keys, the
hetero-lr example's 500 + 500 rows) runs with ``compute = { engine = "dask" }``:

* its aligned rows and trained model equal those of the same job on local pools
  (the guest's batch plan and initial weights fixed), and the cluster's workers
  ran the kernels (encryption, decryption, matrix products, PSI exponentiations);
* a worker killed (with its nanny) mid-training: Dask reruns its tasks on the other
  worker and the job finishes;
* the scheduler killed mid-training: the guest stops with an error naming the cluster
  and the fix, and ``--resume`` on a new cluster at the same address finishes;
* an unreachable scheduler, or one without workers: ``vfl simulate`` stops with one
  line naming the address and what to do;
* a ``tls://`` cluster serves a party holding a certificate of its CA, and refuses a
  party with another CA's certificate;
* the Python API: ``HeteroLogisticRegression(executor=ClusterExecutor(client))``
  fits the model of a local fit;
* resident arguments (key material, the ciphertexts every chunk of ``X.T @ ev``
  reads) are scattered to both workers once for many calls, with results equal to
  local ones; a lost copy (a worker killed mid-way, then every holder gone) is
  replaced and the results stay right.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import protocols.hetero_lr.guest as lr_guest
from crypto.paillier import EncryptedVector, generate_paillier_keypair
from crypto.parallel import parallel_config
from tests.e2e.test_resume import _assert_reference_models, _reference
from tests.support.job_files import free_ports, start_party, write_job
from vfl.certs import create_job_certificates
from vfl.exceptions import JobFileError
from vfl.hetero_lr import HeteroLogisticRegression
from vfl.jobs import simulate_job
from vfl.jobs.jobfile import JobConfig, load_job
from vfl.runtime.compute import ClusterExecutor, ComputeConfig, ComputeError

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "hetero-lr"
DASK = Path(sys.executable).with_name("dask")
PARTIES = [("bank-a", "guest"), ("bank-b", "host")]
FIXED_SEED = bytes(range(7, 39))


class Cluster:
    """A scheduler and its workers, each a process group of its own."""

    def __init__(self, folder: Path, certs: Path | None = None, port: int | None = None) -> None:
        self.folder = folder
        self.certs = certs
        self.port = free_ports(1)[0] if port is None else port
        self.address = f"{'tcp' if certs is None else 'tls'}://127.0.0.1:{self.port}"
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}
        options = ["--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"]
        if certs is not None:
            options += ["--protocol", "tls", *self._tls("dask-scheduler")]
        self.scheduler = self._start("scheduler", ["scheduler", *options])
        self.workers: list[subprocess.Popen[bytes]] = []

    def _tls(self, name: str) -> list[str]:
        if self.certs is None:
            return []
        ca, cert, key = (self.certs / f"{n}" for n in ("ca.crt", f"{name}.crt", f"{name}.key"))
        return ["--tls-ca-file", str(ca), "--tls-cert", str(cert), "--tls-key", str(key)]

    def _start(self, name: str, arguments: list[str]) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("wb")
        return subprocess.Popen(
            [str(DASK), *arguments],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.folder,
            start_new_session=True,  # a worker and its nanny: one group to kill
        )

    def add_worker(self) -> subprocess.Popen[bytes]:
        arguments = ["worker", self.address, "--nthreads", "1", "--nworkers", "1"]
        arguments += ["--no-dashboard", *self._tls("dask-worker")]
        worker = self._start(f"worker-{len(self.workers)}", arguments)
        self.workers.append(worker)
        return worker

    def client(self) -> Any:
        security = None
        if self.certs is not None:
            security = distributed.security.Security(
                tls_ca_file=str(self.certs / "ca.crt"),
                tls_client_cert=str(self.certs / "bank-a.crt"),
                tls_client_key=str(self.certs / "bank-a.key"),
                require_encryption=True,
            )
        return distributed.Client(self.address, security=security, timeout=30, set_as_default=False)

    def wait_for_workers(self, count: int) -> None:
        with self.client() as client:
            client.wait_for_workers(count, timeout=60)
            deadline = time.monotonic() + 60
            while len(client.scheduler_info()["workers"]) != count:
                assert time.monotonic() < deadline, "the cluster did not settle"
                time.sleep(0.2)

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in [*self.workers, self.scheduler]:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill(process)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        running.add_worker()
        running.add_worker()
        running.wait_for_workers(2)
        yield running
    finally:
        running.stop()


def _job(folder: Path, compute: str | None, *, max_iter: int = 2) -> JobConfig:
    for name, _ in PARTIES:
        shutil.copy(EXAMPLE / f"{name}.csv", folder / f"{name}.csv")
    data = {
        "bank-a": '{ file = "bank-a.csv", label_column = "y" }',
        "bank-b": '{ file = "bank-b.csv" }',
    }
    if compute is not None:
        data["bank-a"] += f"\ncompute = {compute}"
    steps = [
        "[[steps]]",
        'type = "psi"',
        "",
        "[[steps]]",
        'type = "hetero_lr"',
        'mode = "two-party"',
        "batch_size = 220",  # the label-information bound: bank-b's 4 features
        f"max_iter = {max_iter}",
        'convergence = "max_iter"',
        "key_length = 1024",
    ]
    path = write_job(
        folder, job_id="dask-1", parties=PARTIES, data=data, steps=steps, allow_weak_keys=True
    )
    path.write_text(path.read_text().replace("connect_timeout = 15", "connect_timeout = 5"))
    return load_job(path)


@pytest.fixture
def fixed_guest_seeds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guest's batch plan and secret initial weights from a fixed seed."""
    fixed = types.SimpleNamespace(token_bytes=lambda n: FIXED_SEED[:n])
    monkeypatch.setattr(lr_guest, "secrets", fixed)


def _outputs(job: JobConfig) -> tuple[dict[str, str], dict[str, Any]]:
    rows = {
        name: (job.party_output_dir(name) / "step-0-psi.csv").read_text() for name, _ in PARTIES
    }
    models = {
        name: json.loads((job.party_output_dir(name) / "step-1-model.json").read_text())
        for name, _ in PARTIES
    }
    return rows, models


def _task_prefixes(cluster: Cluster) -> set[str]:
    with cluster.client() as client:
        names: set[str] = client.run_on_scheduler(
            lambda dask_scheduler: set(dask_scheduler.task_prefixes)
        )
        return names


def test_job_file_compute_tables_parse(tmp_path: Path) -> None:
    dask = '{ engine = "dask", scheduler = "tcp://127.0.0.1:8786", n_jobs = 8 }'
    job = _job(tmp_path, dask)
    assert job.guest.compute == ComputeConfig("dask", "tcp://127.0.0.1:8786", n_jobs=8)
    assert job.hosts[0].compute == ComputeConfig()
    refusals = {
        '{ engine = "spark" }': "compute.engine: 'spark' is not one of",
        '{ engine = "dask" }': 'compute.scheduler: engine = "dask" needs',
        '{ engine = "dask", scheduler = "http://x:1" }': "must be tcp://host:port",
        '{ scheduler = "tcp://x:1" }': 'compute.scheduler: is for engine = "dask"',
        '{ engine = "dask", scheduler = "tcp://x:1", ca_file = "ca.crt" }': "tls:// scheduler",
        '{ engine = "dask", scheduler = "tls://x:1", cert_file = "a.crt" }': "needs ca_file",
        '{ engine = "dask", scheduler = "tcp://x:1", n_jobs = -1 }': "compute.n_jobs",
        '{ engine = "local", cores = 2 }': "unknown key(s) 'cores'",
    }
    for table, message in refusals.items():
        with pytest.raises(JobFileError) as caught:
            _job(tmp_path, table)
        assert message in str(caught.value), (table, str(caught.value))
    tls = (
        '{ engine = "dask", scheduler = "tls://x:1", ca_file = "nowhere/ca.crt", '
        'cert_file = "nowhere/a.crt", key_file = "nowhere/a.key" }'
    )
    with pytest.raises(JobFileError, match=r"missing files: bank-a\.compute\.ca_file"):
        _job(tmp_path, tls).check_files(tls=False)


def test_a_dask_guest_trains_the_model_of_a_local_run(
    cluster: Cluster, tmp_path: Path, fixed_guest_seeds: None
) -> None:
    (tmp_path / "local").mkdir()
    (tmp_path / "dask").mkdir()
    local = _job(tmp_path / "local", None)
    on_dask = _job(tmp_path / "dask", f'{{ engine = "dask", scheduler = "{cluster.address}" }}')
    simulate_job(local)
    reports = simulate_job(on_dask)
    assert reports["bank-a"].results[1]["epochs"] == 2
    local_rows, _ = _outputs(local)
    dask_rows, _ = _outputs(on_dask)
    for name, _role in PARTIES:  # the same common rows (their order follows the ECDH keys)
        assert sorted(dask_rows[name].splitlines()) == sorted(local_rows[name].splitlines())
    # each run's models: exactly those of the protocol on its aligned rows, with the fixed
    # plan and initial weights, on the plaintext backend (whose arithmetic is Paillier's)
    for job in (local, on_dask):
        _assert_reference_models(job, _reference(job, FIXED_SEED, FIXED_SEED))
    ran = _task_prefixes(cluster)
    # the guest's kernels: PSI exponentiations, its encryptions and decryptions, products
    assert {"hash_exponentiate_kernel", "exponentiate_kernel"} <= ran, ran
    assert any("encrypt" in name for name in ran), ran
    assert any("decrypt" in name for name in ran), ran
    with cluster.client() as client:
        done = client.run(lambda dask_worker: dask_worker.state.transition_counter)
    assert len(done) == 2 and all(count > 0 for count in done.values()), done


def test_vfl_run_processes_over_tls_with_a_dask_guest(cluster: Cluster, tmp_path: Path) -> None:
    """The same job as two ``vfl run`` processes over the job's mutual TLS: the guest's
    process connects to the cluster itself and says so in its log."""
    job = _job(tmp_path, f'{{ engine = "dask", scheduler = "{cluster.address}" }}')
    create_job_certificates(tmp_path / "certs", [name for name, _ in PARTIES])
    processes = {name: start_party(job.path, name) for name, _ in PARTIES}
    for name, process in processes.items():
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, f"{name}: {stderr[-3000:]}"
        if name == "bank-a":
            assert f"dask cluster connected party=bank-a scheduler={cluster.address}" in stderr
    summary = json.loads((job.party_output_dir("bank-a") / "step-1-hetero_lr.json").read_text())
    assert summary["epochs"] == 2


def test_the_python_api_runs_on_the_cluster(cluster: Cluster) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = (X @ [1.0, -1.0, 0.5, 0.0] + rng.normal(size=120) > 0).astype(int)
    settings: dict[str, Any] = dict(
        parties={"guest": [0, 1], "hosts": [[2, 3]]},
        mode="two-party",
        key_length=1024,
        allow_weak_key=True,
        batch_size=120,
        max_iter=2,
        random_state=3,
    )
    local = HeteroLogisticRegression(**settings).fit(X, y)
    with cluster.client() as client:
        executor = ClusterExecutor(client)
        model = HeteroLogisticRegression(**settings, executor=executor)
        assert model.get_params()["executor"] is executor
        model.fit(X, y)
        probabilities = model.predict_proba(X)
    np.testing.assert_allclose(model.coef_guest_, local.coef_guest_, atol=1e-9)
    np.testing.assert_allclose(probabilities, local.predict_proba(X), atol=1e-9)


def test_an_unreachable_scheduler_is_named(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    address = f"tcp://127.0.0.1:{port}"
    job = _job(tmp_path, f'{{ engine = "dask", scheduler = "{address}" }}')
    started = time.monotonic()
    finished = subprocess.run(
        [sys.executable, "-m", "vfl.cli", "simulate", "--config", str(job.path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 1, finished.stderr
    assert time.monotonic() - started < 30
    error = finished.stderr.strip().splitlines()[-1]
    assert f"cannot reach the Dask scheduler {address} (compute.scheduler)" in error, error
    assert "dask scheduler --port" in error and "compute.engine = 'local'" in error


def test_a_worker_killed_mid_job_is_replaced_by_the_other(cluster: Cluster, tmp_path: Path) -> None:
    job = _job(tmp_path, f'{{ engine = "dask", scheduler = "{cluster.address}" }}', max_iter=6)
    job = dataclasses.replace(job, timeout=60.0)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            simulate_job(job)
        except BaseException as error:  # reported by the test thread
            failures.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    checkpoints = job.party_output_dir("bank-a") / "checkpoints"
    deadline = time.monotonic() + 60
    while not list(checkpoints.glob("step-1-epoch-*.json")):  # training is under way
        assert thread.is_alive() and time.monotonic() < deadline, failures
        time.sleep(0.05)
    with cluster.client() as client:
        before = client.run(lambda dask_worker: dask_worker.state.transition_counter)
    victim = cluster.workers[0]
    cluster.kill(victim)
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert not failures, failures
    summary = json.loads((job.party_output_dir("bank-a") / "step-1-hetero_lr.json").read_text())
    assert summary["epochs"] == 6
    with cluster.client() as client:
        after = client.run(lambda dask_worker: dask_worker.state.transition_counter)
    assert len(after) == 1 and set(after) < set(before)  # the job ended on the survivor,
    (survivor,) = after
    assert after[survivor] > before[survivor]  # which ran the tasks after the kill
    cluster.workers.remove(victim)
    cluster.add_worker()  # for any later test


def _start_cluster(folder: Path, port: int | None = None, workers: int = 1) -> Cluster:
    started = Cluster(folder, port=port)
    try:
        for _ in range(workers):
            started.add_worker()
        if workers:
            started.wait_for_workers(workers)
        else:
            started.client().close()  # the scheduler is up
    except BaseException:
        started.stop()
        raise
    return started


def test_a_scheduler_without_workers_is_named(tmp_path: Path) -> None:
    lonely = _start_cluster(tmp_path, workers=0)
    try:
        job = _job(tmp_path, f'{{ engine = "dask", scheduler = "{lonely.address}" }}')
        with pytest.raises(ComputeError, match=f"{lonely.address} has no worker after 5 s"):
            simulate_job(job)
    finally:
        lonely.stop()


def test_a_lost_scheduler_stops_the_job_and_resume_finishes_it(tmp_path: Path) -> None:
    """The scheduler SIGKILLed mid-training: the guest stops with an error naming the
    cluster and the fix; on a new cluster at the same address, --resume finishes."""
    (tmp_path / "first").mkdir()
    first = _start_cluster(tmp_path / "first")
    try:
        job = _job(tmp_path, f'{{ engine = "dask", scheduler = "{first.address}" }}', max_iter=6)
        failures: list[BaseException] = []

        def run() -> None:
            try:
                simulate_job(job)
            except BaseException as error:  # checked by the test thread
                failures.append(error)

        thread = threading.Thread(target=run)
        thread.start()
        checkpoints = job.party_output_dir("bank-a") / "checkpoints"
        deadline = time.monotonic() + 60
        while not list(checkpoints.glob("step-1-epoch-*.json")):
            assert thread.is_alive() and time.monotonic() < deadline, failures
            time.sleep(0.05)
        first.kill(first.scheduler)
        thread.join(timeout=60)
        assert not thread.is_alive()
    finally:
        first.stop()
    (failure,) = failures
    assert isinstance(failure, ComputeError), repr(failure)
    assert f"scheduler {first.address} failed during an operation" in str(failure)
    assert "rerun every party with --resume" in str(failure)
    (tmp_path / "second").mkdir()
    second = _start_cluster(tmp_path / "second", port=first.port)
    try:
        reports = simulate_job(job, resume=True)
    finally:
        second.stop()
    assert reports["bank-a"].results[1]["epochs"] == 6


def test_a_tls_cluster_serves_a_party_with_its_certificate(tmp_path: Path) -> None:
    """tls://: the scheduler, the worker and the party each hold a certificate of the
    cluster's CA; a party with another CA's certificate is refused with a clear error."""
    certs = tmp_path / "certs-dask"
    create_job_certificates(certs, ["dask-scheduler", "dask-worker", "bank-a"])
    create_job_certificates(tmp_path / "other", ["bank-a"])
    tls = Cluster(tmp_path, certs)
    try:
        tls.add_worker()
        tls.wait_for_workers(1)

        def table(ca: Path, party: Path) -> str:
            return (
                f'{{ engine = "dask", scheduler = "{tls.address}", ca_file = "{ca}/ca.crt", '
                f'cert_file = "{party}/bank-a.crt", key_file = "{party}/bank-a.key" }}'
            )

        job = _job(tmp_path, table(certs, certs), max_iter=1)
        reports = simulate_job(job)
        assert reports["bank-a"].results[1]["epochs"] == 1
        assert {"hash_exponentiate_kernel", "exponentiate_kernel"} <= _task_prefixes(tls)
        (tmp_path / "stranger").mkdir()
        stranger = _job(tmp_path / "stranger", table(certs, tmp_path / "other"), max_iter=1)
        with pytest.raises(ComputeError, match=f"cannot reach the Dask scheduler {tls.address}"):
            simulate_job(stranger)
    finally:
        tls.stop()


@dataclasses.dataclass(frozen=True)
class PaillierCase:
    public_key: Any
    private_key: Any
    values: np.ndarray
    X: np.ndarray
    fixed: EncryptedVector


def _paillier_round(case: PaillierCase) -> tuple[list[int], list[int], list[int]]:
    """Decryptions of a fresh encryption, of a fixed vector, and ``X.T @ ev``'s ciphertexts."""
    public_key, private_key, fixed = case.public_key, case.private_key, case.fixed
    fresh = public_key.encrypt_vector(case.values)
    product = case.X.T @ fixed
    return (
        private_key.decrypt_raw(fresh),
        private_key.decrypt_raw(fixed),
        [int(c) for c in product._ciphertexts],
    )


@pytest.fixture(scope="module")
def paillier_case() -> tuple[PaillierCase, tuple[list[int], list[int], list[int]]]:
    public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
    rng = np.random.default_rng(11)
    values = rng.integers(-1000, 1000, size=240).astype(float)
    X = rng.integers(-20, 20, size=(240, 3))
    case = PaillierCase(public_key, private_key, values, X, public_key.encrypt_vector(values))
    return case, _paillier_round(case)  # expected: inline, in this process


@pytest.mark.parametrize(("plan", "resident_count"), [("tables", 6), ("subsets", 4)])
def test_resident_arguments_reach_the_workers_once(
    cluster: Cluster,
    paillier_case: Any,
    plan: str,
    resident_count: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case, expected = paillier_case
    monkeypatch.setattr(EncryptedVector, "_matmul_plan", plan)
    with cluster.client() as client:
        plain = ClusterExecutor(client, 4)  # the default: arguments with every task
        with parallel_config(executor=plain):
            assert _paillier_round(case) == expected
        assert plain.scatters == 0
        executor = ClusterExecutor(client, 4, resident=True)
        with parallel_config(executor=executor):
            assert _paillier_round(case) == expected
            # encryption: n and its exponent size; decryption: p, q; X.T @ ev: ev and n**2
            # with tables (every chunk reads all of ev), none when split by columns
            assert executor.scatters == resident_count
            for _ in range(3):
                assert _paillier_round(case) == expected
            assert executor.scatters == resident_count  # nothing scattered again
            resident = executor.resident_futures()
            holders = client.who_has(resident)
            assert len(resident) == resident_count
            # broadcast to both workers; Dask's active memory manager may drop a replica
            # no task waits for (a later task fetches it from the other worker)
            assert all(holders[f.key] for f in resident), holders
        keys = [f.key for f in resident]
        del resident, holders
        executor.shutdown()
        deadline = time.monotonic() + 10
        while client.run_on_scheduler(lambda dask_scheduler: set(keys) & set(dask_scheduler.tasks)):
            assert time.monotonic() < deadline, "the resident copies were not released"
            time.sleep(0.1)


def test_lost_resident_copies_are_replaced(
    tmp_path: Path, paillier_case: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    case, expected = paillier_case
    monkeypatch.setattr(EncryptedVector, "_matmul_plan", "tables")  # six resident objects
    own = _start_cluster(tmp_path, workers=2)
    try:
        with own.client() as client:
            executor = ClusterExecutor(client, 4, resident=True)
            with parallel_config(executor=executor):
                assert _paillier_round(case) == expected
            # (a worker killed *while* tasks wait on its copies is not tested: it once left
            # a round waiting over 60 s, which is why resident=False is the default)
            scattered = executor.scatters
            # every holder gone: a new worker, then both first workers killed between rounds
            own.add_worker()
            client.wait_for_workers(3, timeout=30)
            own.kill(own.workers.pop(0))
            own.kill(own.workers.pop(0))
            deadline = time.monotonic() + 30
            while any(f.status != "cancelled" for f in executor.resident_futures()):
                assert time.monotonic() < deadline, "the copies outlived their workers"
                time.sleep(0.1)  # (a lost scattered copy's future is cancelled)
            with parallel_config(executor=executor):
                assert _paillier_round(case) == expected
            assert executor.scatters == scattered + 6  # scattered again, once each
            executor.shutdown()
    finally:
        own.stop()
