"""The README's code runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_blocks_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks, "the README shows Python examples"
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # our own README, not peer data
    assert namespace["private_key"].decrypt(namespace["x"] * 2 + 1) == 8.0  # type: ignore[attr-defined]


def test_readme_starts_with_the_two_commands() -> None:
    head = README.read_text().split("\n")[:6]
    assert "make demo" in "\n".join(head) and "make test" in "\n".join(head)
