"""Each hetero LR setting is declared once; everything else is checked against it.

The declarations (``LrSettings``, ``OptimizerSettings`` and ``HeteroLrStep``'s own
three) drive the job files' ``hetero_lr`` parser and the reference table; the
estimator keeps an explicit signature for scikit-learn, whose defaults must be the
declared ones; and one key policy (``crypto.paillier.key_length_problem``) decides
every entry point's key lengths.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from crypto.exceptions import InvalidKeyError, WeakKeyError
from crypto.paillier import check_key_length, key_length_problem
from protocols.exceptions import ProtocolError
from protocols.hetero_lr import LrSettings, OptimizerSettings
from protocols.hetero_lr.declarations import declarations
from protocols.hetero_lr.settings import FLAT_KEYWORDS, flat_declarations
from vfl.exceptions import JobFileError, VflError
from vfl.hetero_lr import HeteroLogisticRegression
from vfl.jobs.jobfile import HeteroLrStep, load_job
from vfl.steps.hetero_lr import DEFAULTS, job_declarations, settings_table

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "job-file.md"


def _reference_table() -> str:
    text = REFERENCE.read_text()
    section = text[text.index('### `type = "hetero_lr"`') :]
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| key |"))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    return "\n".join(lines[start:end]) + "\n"


def test_the_reference_table_is_the_declarations() -> None:
    expected = settings_table()
    assert _reference_table() == expected, (
        "docs/job-file.md's hetero_lr table differs from the declarations; replace it with "
        'the output of python -c "from vfl.steps.hetero_lr import settings_table; '
        'print(settings_table())"'
    )


def test_the_step_has_exactly_the_declared_job_file_keys() -> None:
    fields = [item.name for item in dataclasses.fields(HeteroLrStep)]
    assert fields == [d.name for d in job_declarations()]
    assert dataclasses.asdict(HeteroLrStep()) == {name: DEFAULTS[name] for name in fields}
    python_only = {d.name for d in flat_declarations() if not d.job_file}
    assert python_only == {"early_stopping", "patience", "allow_weak_key"}


def test_the_estimator_takes_every_setting_with_its_declared_default() -> None:
    parameters = inspect.signature(HeteroLogisticRegression.__init__).parameters
    for name, default in DEFAULTS.items():
        assert name in parameters, f"HeteroLogisticRegression has no parameter {name!r}"
        assert parameters[name].default == default, name
        assert type(parameters[name].default) is type(default), name
    assert set(FLAT_KEYWORDS) <= set(parameters)
    # the engine's default mode is shared; the protocol layer's LrSettings keeps two-party
    assert HeteroLogisticRegression().settings() == LrSettings(mode=DEFAULTS["mode"])
    assert HeteroLogisticRegression(mode="two-party").settings() == LrSettings()


LR_MODULES = [
    "vfl/hetero_lr.py",
    "vfl/steps/hetero_lr.py",
    "vfl/jobs/jobfile.py",
    "vfl/jobs/run.py",
    "protocols/hetero_lr/settings.py",
    "protocols/hetero_lr/optimizers.py",
]


@pytest.mark.parametrize("module", LR_MODULES)
def test_no_setting_default_is_written_outside_its_declaration(module: str) -> None:
    """A parameter or field named like a setting takes its default from DEFAULTS."""
    tree = ast.parse((ROOT / module).read_text())
    for node in ast.walk(tree):
        pairs: list[tuple[str, ast.expr | None]] = []
        if isinstance(node, ast.FunctionDef):
            arguments = node.args
            positional = arguments.posonlyargs + arguments.args
            pairs += zip(
                (a.arg for a in positional[len(positional) - len(arguments.defaults) :]),
                arguments.defaults,
                strict=True,
            )
            kwonly = zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
            pairs += ((a.arg, d) for a, d in kwonly)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            pairs.append((node.target.id, node.value))  # a dataclass field
        for name, default in pairs:
            if name in DEFAULTS and isinstance(default, ast.Constant) and default.value is not None:
                raise AssertionError(
                    f"{module}:{default.lineno}: {name} = {default.value!r}; take the default "
                    "from its declaration (DEFAULTS)"
                )


def test_each_lr_default_is_written_once() -> None:
    sources = "\n".join((ROOT / module).read_text() for module in LR_MODULES)
    assert len(re.findall(r"setting\(\s*1024\b", sources)) == 1  # batch_size
    assert len(re.findall(r"setting\(\s*0\.1\b", sources)) == 1  # learning_rate


def _job(folder: Path, settings: str, allow_weak_keys: bool = False) -> Path:
    (folder / "a.csv").write_text("id,y,x\n1,0,0.5\n2,1,0.1\n")
    (folder / "b.csv").write_text("id,z\n1,1.0\n2,2.0\n")
    text = f"""
[job]
id = "declared"
allow_weak_keys = {"true" if allow_weak_keys else "false"}

[[parties]]
name = "bank-a"
role = "guest"
address = "127.0.0.1:9101"
data = {{ file = "a.csv", label_column = "y" }}

[[parties]]
name = "bank-b"
role = "host"
address = "127.0.0.1:9102"
data = {{ file = "b.csv" }}

[[steps]]
type = "hetero_lr"
{settings}
"""
    path = folder / "job.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("batch_size", 0),
        ("max_iter", 0),
        ("learning_rate", 0),
        ("alpha", -1),
        ("tol", -1.0),
        ("optimizer", '"adamw"'),
        ("penalty", '"elasticnet"'),
        ("convergence", '"never"'),
        ("mode", '"three-party"'),
        ("n_jobs", 0),
        ("label_privacy_epsilon", 0),
        ("label_privacy_delta", 1.0),
        ("key_length", 1025),
    ],
)
def test_a_value_is_refused_by_the_same_rule_in_a_job_file_and_in_python(
    tmp_path: Path, key: str, value: object
) -> None:
    with pytest.raises(JobFileError, match=re.escape(f"steps[0].{key}: ")):
        load_job(_job(tmp_path, f"{key} = {value}"))
    python_value = value.strip('"') if isinstance(value, str) else value
    with pytest.raises(ProtocolError, match=key):
        LrSettings.from_flat(**{key: python_value})


@pytest.mark.parametrize("name", [d.name for d in job_declarations()])
def test_every_declared_key_is_read_from_a_job_file_with_its_type(
    tmp_path: Path, name: str
) -> None:
    with pytest.raises(JobFileError, match=re.escape(f"steps[0].{name}: expected")):
        load_job(_job(tmp_path, f"{name} = [1]"))


def test_every_setting_field_is_declared() -> None:
    for cls in (LrSettings, OptimizerSettings):
        declared = {d.field for d in declarations(cls)}
        fields = {item.name for item in dataclasses.fields(cls)} - {"optimizer"}
        assert declared == fields, cls.__name__


BITS = [512, 1000, 1024, 1026, 2046, 2047, 2048, 3072, 16384, 16386]


@pytest.mark.parametrize("weak", [False, True])
@pytest.mark.parametrize("bits", BITS)
def test_every_entry_point_follows_the_one_key_policy(
    tmp_path: Path, bits: int, weak: bool
) -> None:
    problem = key_length_problem(bits, allow_weak_key=weak)
    allowed = problem is None
    # the policy function itself
    if allowed:
        assert check_key_length(bits, allow_weak_key=weak) == bits
    else:
        with pytest.raises(WeakKeyError if problem.startswith("a ") else InvalidKeyError):
            check_key_length(bits, allow_weak_key=weak)
    # LrSettings and the estimator
    try:
        LrSettings(key_length=bits, allow_weak_key=weak)
        HeteroLogisticRegression(key_length=bits, allow_weak_key=weak).settings()
        accepted = True
    except ProtocolError as error:
        assert problem in str(error).replace("key_length ", "", 1)
        accepted = False
    assert accepted == allowed
    # job files
    try:
        load_job(_job(tmp_path, f"key_length = {bits}", allow_weak_keys=weak))
        accepted = True
    except JobFileError as error:
        assert f"steps[0].key_length: {problem.split(' (')[0]}" in str(error)
        accepted = False
    assert accepted == allowed
    # the demo refuses before any work
    if not allowed:
        from vfl.demo import run_demo

        with pytest.raises(VflError, match=re.escape(problem.split(" (")[0])):
            run_demo(workdir=tmp_path / "demo", key_length=bits, allow_weak_key=weak)
        assert not (tmp_path / "demo").exists()


@pytest.mark.parametrize("documented", [HeteroLogisticRegression, LrSettings])
def test_the_documented_defaults_are_the_declared_ones(documented: type) -> None:
    """The numpydoc ``name : type, default VALUE`` lines may not drift from DEFAULTS."""
    found = re.findall(r"^    (\w+) : .*, default (.+)$", documented.__doc__ or "", re.MULTILINE)
    checked = [(name, text) for name, text in found if name in DEFAULTS]
    assert len(checked) >= 10
    for name, text in checked:
        assert ast.literal_eval(text) == DEFAULTS[name], f"{documented.__name__}: {name}"
