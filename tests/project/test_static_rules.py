"""Project rules checked on the source: layering, randomness sources, no unsafe deserialisation."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = {"crypto": set(), "protocols": {"crypto"}, "vfl": {"crypto", "protocols"}}
PROJECT_PACKAGES = {"crypto", "protocols", "vfl", "benchmarks"}


def _modules(package: str):
    for path in sorted((ROOT / package).rglob("*.py")):
        yield path, ast.parse(path.read_text(), filename=str(path))


def _imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_lower_layers_never_import_higher_ones(package: str) -> None:
    for path, tree in _modules(package):
        for name in _imported(tree):
            top = name.split(".")[0]
            if top in PROJECT_PACKAGES and top != package:
                assert top in LAYERS[package], f"{path.relative_to(ROOT)} imports {name}"


# vfl's folders, each importing only those before it (and vfl.exceptions, vfl.certs);
# the top modules (cli, demo, the estimator, psi) may import any of them
VFL_FOLDERS = {
    "runtime": {"exceptions", "certs"},
    "tables": {"exceptions", "runtime"},
    "evaluation": {"exceptions", "runtime"},
    "steps": {"exceptions", "runtime", "tables", "evaluation"},
    "jobs": {"exceptions", "runtime", "tables", "evaluation", "steps"},
}


@pytest.mark.parametrize("folder", sorted(VFL_FOLDERS))
def test_vfl_folders_import_only_the_ones_before_them(folder: str) -> None:
    for path in sorted((ROOT / "vfl" / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):  # imports for type annotations only may go anywhere
            if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
                node.body = []
        for name in _imported(tree):
            parts = name.split(".")
            if parts[0] == "vfl" and parts[1:2] != [folder]:
                below = parts[1] if len(parts) > 1 else "vfl"
                assert below in VFL_FOLDERS[folder], f"{path.relative_to(ROOT)} imports {name}"


@pytest.mark.parametrize("package", ["crypto", "protocols"])
def test_crypto_and_protocols_use_only_the_csprng(package: str) -> None:
    for path, tree in _modules(package):
        imported = _imported(tree)
        assert "random" not in imported, f"{path.name} imports random"
        assert "numpy.random" not in imported, f"{path.name} imports numpy.random"
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in {
                "random",
                "random_state",
                "default_rng",
            }:
                assert not (
                    isinstance(node.value, ast.Name) and node.value.id in {"np", "numpy", "gmpy2"}
                ), f"{path.name}:{node.lineno} uses {ast.unparse(node)}"


@pytest.mark.parametrize("package", ["crypto", "protocols", "vfl"])
def test_no_pickle_marshal_or_eval(package: str) -> None:
    for path, tree in _modules(package):
        imported = _imported(tree)
        assert not imported & {"pickle", "marshal", "shelve", "dill"}, path.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in {"eval", "exec"}, f"{path.name}:{node.lineno}"


def test_every_package_is_typed() -> None:
    for package in ("crypto", "protocols", "vfl"):
        assert (ROOT / package / "py.typed").exists()
