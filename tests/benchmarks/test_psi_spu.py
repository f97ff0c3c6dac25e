"""The spu PSI baseline: two spu party processes, a checked answer and counted bytes.

The runs need SecretFlow's ``spu`` (0.9.5) in this interpreter or in ``.venv-spu``
at the repository root (``python3 -m venv .venv-spu && .venv-spu/bin/pip install
spu==0.9.5``); without it they are skipped.  The relay and the option parsing are
tested either way.
"""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest

from benchmarks.__main__ import main
from benchmarks.psi_bench import _spu_protocols, make_ids, write_ids
from benchmarks.psi_spu import (
    PROTOCOLS,
    SpuRun,
    SpuUnavailableError,
    _Relay,
    find_spu_python,
    run_spu_psi,
)
from benchmarks.verify import VerificationError

SIZE = 2_000


def _spu_python() -> Path | None:
    try:
        return find_spu_python()
    except SpuUnavailableError:
        return None


SPU_PYTHON = _spu_python()
needs_spu = pytest.mark.skipif(
    SPU_PYTHON is None,
    reason="spu is not installed: python3 -m venv .venv-spu && "
    ".venv-spu/bin/pip install spu==0.9.5",
)


@pytest.fixture(scope="module")
def id_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, frozenset[str]]:
    folder = tmp_path_factory.mktemp("spu-ids")
    ids = make_ids(SIZE, seed=7)
    write_ids(folder / "guest.csv", ids.guest)
    write_ids(folder / "host.csv", ids.host)
    return folder / "guest.csv", folder / "host.csv", ids.common


def _quiet(message: str) -> None:
    del message


@needs_spu
@pytest.mark.parametrize("protocol", ["rr22", "kkrt"])
def test_spu_finds_exactly_the_common_ids_and_counts_bytes(
    protocol: str, id_files: tuple[Path, Path, frozenset[str]], tmp_path: Path
) -> None:
    guest, host, common = id_files
    run = run_spu_psi(guest, host, protocol, tmp_path, _quiet, python=SPU_PYTHON)
    assert run.protocol == protocol and run.version == "0.9.5"
    assert run.size == SIZE and run.intersection_size == len(common) == SIZE // 2
    # both outputs: the common ids, one order, checked again here independently
    rows = {}
    for party in ("guest", "host"):
        lines = (tmp_path / f"spu-{protocol}-{party}.out.csv").read_text().splitlines()
        assert lines[0].strip('"') == "id"
        rows[party] = lines[1:]
    assert rows["guest"] == rows["host"] and set(rows["guest"]) == common
    # both parties send: the receiver's OT/OKVS messages, the sender's OPRF values
    assert set(run.bytes_sent) == {"guest", "host"}
    assert all(count > 16 * SIZE // 10 for count in run.bytes_sent.values())
    assert run.total_bytes == sum(run.bytes_sent.values())
    assert run.bytes_per_item == run.total_bytes / SIZE
    assert run.protocol_s is not None and 0 < run.protocol_s <= run.wall_s
    for party in ("guest", "host"):
        assert run.import_rss_bytes[party] <= run.peak_rss_bytes[party]
        assert run.cpu_s[party] > 0
    record = run.to_json()
    assert record["bytes_per_item"] == round(run.bytes_per_item, 2)
    assert record["intersection_size"] == SIZE // 2


@needs_spu
def test_spu_answer_is_checked_against_the_expected_ids(
    id_files: tuple[Path, Path, frozenset[str]], tmp_path: Path
) -> None:
    guest, host, common = id_files
    wrong = frozenset(list(common)[1:])
    with pytest.raises(VerificationError, match="1 not common"):
        run_spu_psi(guest, host, "kkrt", tmp_path, _quiet, python=SPU_PYTHON, expected=wrong)


@needs_spu
def test_psi_suite_adds_spu_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "psi.json"
    argv = ["psi", "--sizes", "600", "--methods", "kkrt", "ecdh", "--spu", "kkrt"]
    argv += ["--baseline-max-size", "0", "--output", str(output)]
    argv += ["--workdir", str(tmp_path / "work"), "--timeout", "120"]
    assert main(argv) == 0
    document = json.loads(output.read_text())
    assert document["meta"]["spu"] == "0.9.5"
    row = document["results"]["600"]
    assert row["ours"]["method"] == "kkrt" and list(row["more_methods"]) == ["ecdh"]
    for record in (row["ours"], row["more_methods"]["ecdh"]):
        sent = [record["parties"][p]["bytes_sent"] for p in ("guest", "host")]
        assert all(count > 0 for count in sent) and record["total_bytes"] == sum(sent)
        assert record["bytes_per_item"] == round(sum(sent) / 600, 2)
    spu = row["spu"]["kkrt"]
    assert spu["intersection_size"] == 300 and spu["bytes_per_item"] > 0
    assert spu["ours_wall_over_spu_wall"] == pytest.approx(
        row["ours"]["wall_seconds"] / spu["wall_seconds"], rel=1e-2, abs=2e-3
    )
    table = capsys.readouterr().out
    assert "| 600 | spu 0.9.5 kkrt |" in table and "| 600 | ours ecdh |" in table


def test_missing_interpreter_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(SpuUnavailableError, match=r"pip install spu==0\.9\.5"):
        find_spu_python(tmp_path / "no-python")


def test_unknown_protocol_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="choose one of"):
        run_spu_psi(tmp_path / "g.csv", tmp_path / "h.csv", "ecdh", tmp_path, _quiet)


def test_spu_option_values() -> None:
    assert _spu_protocols(["none"]) == ()
    assert _spu_protocols(["both"]) == ("rr22", "kkrt")
    assert _spu_protocols(["kkrt", "both", "rr22-lowcomm"]) == ("kkrt", "rr22", "rr22-lowcomm")
    assert set(PROTOCOLS) == {"rr22", "rr22-lowcomm", "kkrt"}


def test_spu_run_per_item_figures() -> None:
    run = SpuRun("kkrt", 1_000, 2.0, 1.0, {"guest": 3_000, "host": 1_000}, {}, {}, {}, 500, "x")
    assert run.total_bytes == 4_000 and run.bytes_per_item == 4.0
    assert SpuRun("kkrt", 0, 1.0, None, {}, {}, {}, {}, 0, "x").bytes_per_item == 0.0


def _echo_server() -> tuple[socket.socket, threading.Thread]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)  # echo, then a trailer once the client is done
            conn.sendall(b"trailer")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server, thread


def test_relay_forwards_and_counts_both_directions() -> None:
    server, thread = _echo_server()
    relay = _Relay(int(server.getsockname()[1]))
    try:
        payload = bytes(range(256)) * 4_000  # 1,024,000 bytes
        received = bytearray()
        with socket.create_connection(("127.0.0.1", relay.port)) as client:
            client.sendall(payload)
            client.shutdown(socket.SHUT_WR)
            while data := client.recv(65536):
                received += data
        thread.join(timeout=10)
    finally:
        relay.close()
        server.close()
    assert bytes(received) == payload + b"trailer"
    assert relay.forward == len(payload) == 1_024_000
    assert relay.backward == len(payload) + len(b"trailer") == 1_024_007
