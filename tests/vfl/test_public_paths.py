"""The documented ``vfl.X`` paths stay importable after the modules moved into folders."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# documented path -> where the code lives
SHIMS = {
    "vfl.datasets": "vfl.tables.datasets",
    "vfl.columns": "vfl.tables.columns",
    "vfl.models": "vfl.tables.models",
    "vfl.metrics": "vfl.evaluation.metrics",
    "vfl.report": "vfl.evaluation.report",
    "vfl.plots": "vfl.evaluation.plots",
    "vfl.codec": "vfl.runtime.codec",
    "vfl.transcript": "vfl.runtime.transcript",
}

DOCUMENTS = [
    "README.md",
    "SECURITY.md",
    "docs/*.md",
    "examples/**/*.md",
    "examples/**/*.py",
    "examples/**/*.toml",
    "fuzz/README.md",
]


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            value = getattr(value, name)
        return value
    raise ModuleNotFoundError(dotted)


@pytest.mark.parametrize(("documented", "home"), sorted(SHIMS.items()))
def test_a_documented_path_re_exports_every_public_name(documented: str, home: str) -> None:
    shim, module = importlib.import_module(documented), importlib.import_module(home)
    assert shim.__all__ == module.__all__
    for name in module.__all__:
        assert getattr(shim, name) is getattr(module, name), name


def test_every_vfl_path_the_documents_name_resolves() -> None:
    mentioned: set[str] = set()
    for pattern in DOCUMENTS:
        for path in ROOT.glob(pattern):
            text = path.read_text()
            mentioned.update(re.findall(r"`~?(vfl(?:\.\w+)+)", text))
            mentioned.update(re.findall(r"^\s*(?:from|import) (vfl(?:\.\w+)*)", text, re.M))
    assert {"vfl.datasets", "vfl.metrics", "vfl.plots", "vfl.report"} <= mentioned
    for dotted in sorted(mentioned):
        _resolve(dotted)
