"""Parties refuse to train or score on rows that are not the same customers in order."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from protocols.exceptions import ProtocolError
from protocols.hetero_lr import LrArbiter, LrGuest, LrHost, LrSettings, ScoreGuest, ScoreHost
from protocols.hetero_lr.party import rows_digest
from protocols.messages import LrScoreRequest, LrSetup
from tests.support.job_files import with_test_keys
from tests.support.protocol_harness import run_roles
from vfl.jobs import simulate_job
from vfl.jobs.jobfile import load_job

IDS = [f"c{i}" for i in range(120)]
SETTINGS = LrSettings(batch_size=60, max_iter=1, convergence="max_iter", key_length=1024,
                      allow_weak_key=True)  # fmt: skip


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    # one host column: batches of 60 pass the label-information bound
    x_guest, x_host = rng.normal(size=(120, 3)), rng.normal(size=(120, 1))
    return x_guest, (x_guest[:, 0] + x_host[:, 0] > 0).astype(float), x_host


@pytest.mark.parametrize("mode", ["two-party", "arbiter"])
def test_training_needs_the_same_ordered_ids(mode: str) -> None:
    x_guest, y, x_host = _data()
    settings = dataclasses.replace(SETTINGS, mode=mode)
    arbiter = "arbiter" if mode == "arbiter" else None

    def roles(host_ids: list[str] | None, guest_ids: list[str] | None = IDS) -> dict:  # type: ignore[type-arg]
        found: dict = {  # type: ignore[type-arg]
            "guest": LrGuest("guest", "job", hosts=["host"], features=x_guest, labels=y,
                             settings=settings, backend="plaintext", arbiter=arbiter,
                             row_ids=guest_ids),
            "host": LrHost("host", "job", guest="guest", features=x_host, settings=settings,
                           backend="plaintext", arbiter=arbiter, row_ids=host_ids),
        }  # fmt: skip
        if arbiter:
            found["arbiter"] = LrArbiter("arbiter", "job", guest="guest", hosts=["host"],
                                         settings=settings, backend="plaintext")  # fmt: skip
        return found

    transcript = run_roles(roles(IDS))  # aligned: trains
    setups = {m.receiver: m.rows_digest for m in transcript if isinstance(m, LrSetup)}
    assert len(setups["host"]) == 32 and setups.get("arbiter", b"") == b""  # hosts only
    run_roles(roles(None))  # a host that does not know its ids cannot check: trains
    swapped = [IDS[1], IDS[0], *IDS[2:]]
    with pytest.raises(ProtocolError, match="not the same customers in the same order"):
        run_roles(roles(swapped))
    # the check cannot be skipped: a host that knows its ids refuses an empty digest
    with pytest.raises(ProtocolError, match="sent no rows digest"):
        run_roles(roles(IDS, guest_ids=None))


def test_scoring_needs_the_same_ordered_ids() -> None:
    x_guest, _, x_host = _data()

    def score(host_ids: list[str], guest_ids: list[str] | None = IDS) -> list:  # type: ignore[type-arg]
        return run_roles({
            "guest": ScoreGuest("guest", "job", hosts=["host"], features=x_guest,
                                weights=[0.1, 0.2, 0.3], intercept=0.0, row_ids=guest_ids),
            "host": ScoreHost("host", "job", guest="guest", features=x_host,
                              weights=[0.1], row_ids=host_ids),
        })  # fmt: skip

    (request,) = [m for m in score(IDS) if isinstance(m, LrScoreRequest)]
    assert len(request.rows_salt) == 16
    assert request.rows_digest == rows_digest(IDS, request.rows_salt)
    with pytest.raises(ProtocolError, match="not the same customers in the same order"):
        score([*IDS[:-1], "someone else"])
    with pytest.raises(ProtocolError, match="sent no rows digest"):
        score(IDS, guest_ids=None)


def test_a_malformed_digest_is_refused() -> None:
    _, _, x_host = _data()
    host = ScoreHost("host", "job", guest="guest", features=x_host, weights=[0.1],
                     row_ids=IDS)  # fmt: skip
    request = LrScoreRequest(job_id="job", sender="guest", receiver="host", rows=120,
                             rows_salt=b"s", rows_digest=b"short")  # fmt: skip
    with pytest.raises(ProtocolError, match="a rows digest of 5 bytes"):
        host.receive(request)


def test_a_job_without_psi_refuses_files_in_another_order(tmp_path: Path) -> None:
    x_guest, y, x_host = _data()
    guest_rows = ["id,y,a,b,c"] + [
        f"{c},{int(label)},{row[0]!r},{row[1]!r},{row[2]!r}"
        for c, label, row in zip(IDS, y, x_guest.tolist(), strict=True)
    ]
    host_order = list(reversed(range(120)))  # same customers, another order
    host_rows = ["id,d"] + [
        f"{IDS[i]}," + ",".join(repr(v) for v in x_host[i].tolist()) for i in host_order
    ]
    (tmp_path / "a.csv").write_text("\n".join(guest_rows) + "\n")
    (tmp_path / "b.csv").write_text("\n".join(host_rows) + "\n")
    job = tmp_path / "job.toml"
    job.write_text(
        '[job]\nid = "no-psi"\n\n'
        '[[parties]]\nname = "bank-a"\nrole = "guest"\naddress = "127.0.0.1:9401"\n'
        'data = { file = "a.csv", label_column = "y" }\n\n'
        '[[parties]]\nname = "bank-b"\nrole = "host"\naddress = "127.0.0.1:9402"\n'
        'data = { file = "b.csv" }\n\n'
        '[[steps]]\ntype = "hetero_lr"\nbatch_size = 60\nmax_iter = 1\n'
    )
    with pytest.raises(ProtocolError, match="not the same customers in the same order"):
        simulate_job(with_test_keys(load_job(job)))
    # with a psi step first, the same files align and train
    job.write_text(job.read_text().replace('[[steps]]\ntype = "hetero_lr"',
                                           '[[steps]]\ntype = "psi"\n\n[[steps]]\ntype = "hetero_lr"'))  # fmt: skip
    simulate_job(with_test_keys(load_job(job)))
