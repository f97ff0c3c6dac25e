"""Job files: a valid one loads; every kind of mistake is refused naming the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from vfl.exceptions import JobFileError
from vfl.jobs.jobfile import SecureSumStep, load_job

VALID = """
[job]
id = "sum-1"
timeout = 5
connect_timeout = 3.5
output_dir = "out"

[tls]
ca = "certs/ca.crt"

[[parties]]
name = "bank-a"
role = "guest"
address = "127.0.0.1:9101"
certificate = "certs/bank-a.crt"
private_key = "certs/bank-a.key"
data = { file = "a.csv", id_column = "id", label_column = "y" }

[[parties]]
name = "bank-b"
role = "host"
address = "127.0.0.1:9102"
certificate = "certs/bank-b.crt"
private_key = "certs/bank-b.key"
data = { file = "b.csv" }

[[steps]]
type = "secure_sum"
columns = ["balance", "limit"]
max_abs = 1e12
key_length = 3072
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.toml"
    path.write_text(text)
    return path


def test_a_valid_job_loads_with_resolved_paths(tmp_path: Path) -> None:
    job = load_job(_write(tmp_path, VALID))
    assert job.job_id == "sum-1" and job.timeout == 5.0 and job.connect_timeout == 3.5
    assert job.output_dir == (tmp_path / "out").resolve()
    assert job.ca == (tmp_path / "certs/ca.crt").resolve()
    assert [p.name for p in job.parties] == ["bank-a", "bank-b"]
    assert job.guest.name == "bank-a" and [h.name for h in job.hosts] == ["bank-b"]
    a = job.party("bank-a")
    assert (a.host, a.port) == ("127.0.0.1", 9101)
    assert (
        a.data is not None
        and a.data.label_column == "y"
        and a.data.file == (tmp_path / "a.csv").resolve()
    )
    assert job.party("bank-b").data.id_column == "id"  # type: ignore[union-attr]
    assert job.steps == (
        SecureSumStep(columns=("balance", "limit"), max_abs=1e12, key_length=3072),
    )
    assert job.max_message_bytes == 512 * 2**20 and job.allow_weak_keys is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("timeout = 5", "timeout = 5\ncolour = 'red'"), "job: unknown key(s) 'colour'"),
        (('id = "sum-1"', ""), "job: missing key 'id'"),
        (("timeout = 5", "timeout = -1"), "job.timeout: must be a positive number"),
        (
            ("timeout = 5", 'timeout = "soon"'),
            "job.timeout: expected an integer or a number, got str",
        ),
        (('role = "host"', 'role = "boss"'), "parties[1].role: 'boss' is not one of"),
        (('role = "host"', 'role = "guest"'), "exactly one party must have role 'guest', found 2"),
        (('name = "bank-b"', 'name = "bank-a"'), "duplicate name(s) ['bank-a']"),
        (('name = "bank-b"', 'name = "Bank_B"'), "parties[1].name: must be lowercase"),
        (
            ('address = "127.0.0.1:9102"', 'address = "nowhere"'),
            "parties[1].address: 'nowhere' is not host:port",
        ),
        (
            ('address = "127.0.0.1:9102"', 'address = "127.0.0.1:9101"'),
            "two parties share an address",
        ),
        (('type = "secure_sum"', 'type = "magic"'), "steps[0].type: unknown step type 'magic'"),
        (
            ('columns = ["balance", "limit"]', "columns = []"),
            "steps[0].columns: must be a non-empty list",
        ),
        (('columns = ["balance", "limit"]', 'columns = ["a", "a"]'), "must not repeat a column"),
        (
            ('data = { file = "b.csv" }', 'data = { file = "b.csv", sheet = 2 }'),
            "parties[1].data: unknown key(s) 'sheet'",
        ),
        (('data = { file = "b.csv" }', ""), "bank-b has no data section"),
        (("[tls]", "[tls]\nverify = false"), "tls: unknown key(s) 'verify'"),
        (
            ("key_length = 3072", "key_length = true"),
            "steps[0].key_length: expected an integer, got a boolean",
        ),
    ],
)
def test_mistakes_are_refused_naming_the_key(tmp_path: Path, change, message) -> None:
    old, new = change
    assert old in VALID
    with pytest.raises(JobFileError, match=_literal(message)) as raised:
        load_job(_write(tmp_path, VALID.replace(old, new, 1)))
    assert str(tmp_path / "job.toml") in str(raised.value)


def _literal(text: str) -> str:
    import re

    return re.escape(text)


def test_structure_errors(tmp_path: Path) -> None:
    with pytest.raises(JobFileError, match="no such job file"):
        load_job(tmp_path / "absent.toml")
    with pytest.raises(JobFileError, match="not valid TOML"):
        load_job(_write(tmp_path, "[job\nid="))
    with pytest.raises(JobFileError, match="at least one party must have role 'host'"):
        load_job(_write(tmp_path, VALID.replace('role = "host"', 'role = "arbiter"')))
    with pytest.raises(JobFileError, match="the job has no steps"):
        load_job(_write(tmp_path, "steps = []\n" + VALID.split("[[steps]]")[0]))
    with pytest.raises(JobFileError, match="missing key 'parties'"):
        load_job(
            _write(tmp_path, '[job]\nid = "x"\n[[steps]]\ntype = "secure_sum"\ncolumns = ["a"]\n')
        )


def test_missing_files_are_listed_for_the_party_that_runs(tmp_path: Path) -> None:
    job = load_job(_write(tmp_path, VALID))
    with pytest.raises(JobFileError, match="missing files") as raised:
        job.check_files("bank-b")
    text = str(raised.value)
    assert "bank-b.data.file" in text and "bank-b.certificate" in text and "tls.ca" in text
    assert "bank-a" not in text  # another machine's files are not this party's concern
    (tmp_path / "a.csv").write_text("id,y,balance,limit\n1,0,2,3\n")
    (tmp_path / "b.csv").write_text("id,balance,limit\n1,2,3\n")
    job.check_files(tls=False)  # simulate needs only the data
    with pytest.raises(JobFileError, match="no party 'bank-c'"):
        job.party("bank-c")
