"""SECURITY.md: which message kinds, routes and fields it declares."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from protocols.messages import MessageKind
from tests.support.auditor.declared import DECLARED, LR, MODES, role_of, routes_for

ROOT = Path(__file__).resolve().parents[3]
SECURITY_MD = ROOT / "SECURITY.md"


_PARTY_WORDS = {
    "g": "guest",
    "guest": "guest",
    "h": "host",
    "h_j": "host",
    "host": "host",
    "hosts": "host",
    "every host": "host",
    "c_i": "host",
    "c_{i+1}": "host",
    "c_k": "host",
    "a": "arbiter",
    "arbiter": "arbiter",
    "any": "any",
}


def _doc_parties(text: str) -> set[str]:
    text = re.sub(r"\(.*?\)", "", text).replace("`", "").strip().lower()
    parties: set[str] = set()
    for token in re.split(r",|\band\b", text):
        token = token.strip()
        if token in ("all", "each"):
            parties |= {"guest", "host"}
        elif token in _PARTY_WORDS:
            parties.add(_PARTY_WORDS[token])
        else:
            raise ValueError(f"SECURITY.md: unknown party {token!r} in {text!r}")
    return parties


def _doc_routes(cell: str) -> set[tuple[str, str]]:
    if "↔" in cell:
        left, right = (_doc_parties(side) for side in cell.split("↔"))
        return {(a, b) for a in left for b in right} | {(b, a) for a in left for b in right}
    left_text, right_text = cell.split("→")
    if right_text.strip() == "the other":
        left = _doc_parties(left_text)
        assert left == {"guest", "host"}, cell
        return {("guest", "host"), ("host", "guest")}
    return {(a, b) for a in _doc_parties(left_text) for b in _doc_parties(right_text)}


def security_md_routes(
    text: str | None = None,
) -> dict[tuple[str, str | None], set[tuple[str, str]]]:
    """Routes SECURITY.md's message tables (and the scoring paragraph) declare.

    Keys are ``(class name, mode)`` with mode ``"two-party"``/``"arbiter"`` for §11
    training, ``"shared"`` for §12's table and ``None`` elsewhere; values are ``(sender
    role, receiver role)`` pairs (§12's partner and other hosts are hosts here:
    :func:`security_md_shared_routes` tells them apart).
    """
    text = SECURITY_MD.read_text() if text is None else text
    routes: dict[tuple[str, str | None], set[tuple[str, str]]] = defaultdict(set)
    mode: str | None = None
    text = re.sub(r"\n(?!\n|\||#|\*\*|\* )", " ", text)  # join the lines of each paragraph
    for line in text.splitlines():
        if line.startswith("## "):
            mode = None
        if line.startswith("**Two-party mode**"):
            mode = "two-party"
        elif line.startswith("**Arbiter mode**"):
            mode = "arbiter"
        elif line.startswith("**Shared mode**"):
            mode = "shared"
        elif line.startswith("**Scoring**"):
            mode = None
            for sender, receiver, name in re.findall(r"\b([GHA]) → ([GHA]) `(\w+)`", line):
                pair = (_PARTY_WORDS[sender.lower()], _PARTY_WORDS[receiver.lower()])
                routes[(name, None)].add(pair)
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        names = re.findall(r"`(\w+)`", cells[0])
        if not names or not any(name in {d.cls for d in DECLARED.values()} for name in names):
            continue
        if cells[1] == "as in two-party":
            for name in names:
                routes[(name, mode)] |= routes[(name, "two-party")]
            continue
        for name in names:
            routes[(name, mode)] |= _doc_routes(cells[1])
    return dict(routes)


_POSITION_WORDS = {
    "g": {"guest"},
    "guest": {"guest"},
    "p": {"partner"},
    "host (p)": {"partner"},
    "h": {"other-host"},
    "host (h)": {"other-host"},
    "host": {"partner", "other-host"},
    "every host": {"partner", "other-host"},
}


def _positions(text: str) -> set[str]:
    """Shared-mode parties named in a route cell's side ("host (P)", "every host", ...)."""
    found: set[str] = set()
    for token in re.split(r",(?![^(]*\))|\band\b", text.replace("`", "").lower()):
        token = re.sub(r"'s( key)?$", "", token.strip())
        if token not in _POSITION_WORDS:
            raise ValueError(f"SECURITY.md §12: unknown party {token!r} in {text!r}")
        found |= _POSITION_WORDS[token]
    return found


def _shared_routes(cell: str) -> set[tuple[str, str]]:
    """A §12 route cell as (sender, receiver) positions: ``guest``, ``partner``,
    ``other-host``.  A parenthesis listing "X to Y" pairs is the precise form; otherwise
    each side's words ("host (P)" the partner host, "host (h)" any other host)."""
    listed = re.search(r"\(([^()]*\bto\b[^()]*)\)", cell)
    if listed:
        routes: set[tuple[str, str]] = set()
        for item in listed.group(1).split(","):
            sender, _, receiver = item.partition(" to ")
            routes |= {(a, b) for a in _positions(sender) for b in _positions(receiver)}
        return routes
    arrow = "↔" if "↔" in cell else "→"
    left, right = (_positions(side) for side in cell.split(arrow))
    routes = {(a, b) for a in left for b in right}
    if arrow == "↔":
        routes |= {(b, a) for a, b in routes}
    return routes


def security_md_shared_routes(
    text: str | None = None,
) -> dict[tuple[str, str | None], set[tuple[str, str]]]:
    """Routes §12's shared-mode table declares, per message and ``purpose``.

    Keys are ``(class name, purpose)`` (``None``: a row naming no purpose covers every
    purpose of its message); values are ``(sender, receiver)`` positions (``guest``,
    ``partner``, ``other-host``), read from each row's route cell.
    """
    text = SECURITY_MD.read_text() if text is None else text
    start = text.index("**Shared mode**")
    table = text[start : text.index("\n\n", text.index("| message |", start))]
    routes: dict[tuple[str, str | None], set[tuple[str, str]]] = defaultdict(set)
    for line in table.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        (name,) = re.findall(r"`(\w+)`", cells[0])
        purposes = re.findall(r'"(\w+)"', cells[0]) or [None]
        for purpose in purposes:
            routes[(name, purpose)] |= _shared_routes(cells[1])
    return dict(routes)


def security_md_shared_gaps(text: str | None = None) -> list[str]:
    """Differences between the declared shared-mode routes (per purpose, with the host
    positions) and §12's table (sorted)."""
    documented = security_md_shared_routes(text)
    declared: dict[tuple[str, str | None], set[tuple[str, str]]] = defaultdict(set)
    for d in DECLARED.values():
        if d.protocol != LR:
            continue
        for route in routes_for(d.kind, "shared"):
            pairs = {
                (s, r) for s in _expand(route.sender) for r in _expand(route.receiver) if s != r
            }
            for purpose in route.purposes or (None,):
                declared[(d.cls, purpose)] |= pairs
    gaps: list[str] = []
    names = {name for name, _ in declared} | {name for name, _ in documented}
    for name in sorted(names):
        doc = {k: v for k, v in documented.items() if k[0] == name}
        mine = {k: v for k, v in declared.items() if k[0] == name}
        if set(doc) == {(name, None)}:  # one row for every purpose
            mine = {(name, None): set().union(*mine.values())} if mine else {}
        for key in sorted(set(doc) | set(mine), key=str):
            where = f"{name}" + (f' "{key[1]}"' if key[1] else "")
            table, written = mine.get(key, set()), doc.get(key, set())
            gaps += [
                f"{where}: {s} → {r} not in SECURITY.md §12" for s, r in sorted(table - written)
            ]
            gaps += [f"{where}: SECURITY.md §12 has {s} → {r}" for s, r in sorted(written - table)]
    return sorted(gaps)


def _expand(party: str) -> set[str]:
    return {"partner", "other-host"} if party == "host" else {party}


def security_md_message_names(text: str | None = None) -> set[str]:
    """Names in the first column of SECURITY.md's message tables (``| message | ...``)."""
    text = SECURITY_MD.read_text() if text is None else text
    names: set[str] = set()
    in_table = False
    for line in text.splitlines():
        if line.startswith("| message |"):
            in_table = True
        elif not line.startswith("|"):
            in_table = False
        elif in_table:
            names.update(re.findall(r"`(\w+)`", line.split("|")[1]))
    return names


def security_md_rows(text: str | None = None) -> dict[str, list[str]]:
    """The rows of SECURITY.md's message tables, by the message names in their first
    column (a name may have rows in several tables)."""
    text = SECURITY_MD.read_text() if text is None else text
    rows: dict[str, list[str]] = defaultdict(list)
    for line in text.splitlines():
        if line.startswith("| `"):
            for name in re.findall(r"`(\w+)`", line.split("|")[1]):
                rows[name].append(line)
    return dict(rows)


def security_md_field_gaps(text: str | None = None) -> list[str]:
    """Fields whose disclosure SECURITY.md's rows must spell out, and do not (sorted).

    A field sent only under a condition (``only_with``) must have that condition in a
    row of its message (e.g. ``convergence = "weights"``, ``early stopping``); a field
    of form ``magnitude`` (a statistic of the sender's data) must be named in one.
    """
    rows = security_md_rows(text)
    gaps: set[str] = set()
    for declared in DECLARED.values():
        for field in {f for route in declared.routes for f in route.fields}:
            needles = [field.only_with] if field.only_with else []
            if field.form == "magnitude":
                needles.append(f"`{field.name}`")
            for needle in needles:
                if not any(needle in row for row in rows.get(declared.cls, [])):
                    gaps.add(f"{declared.cls}.{field.name}: no row of SECURITY.md says {needle}")
    return sorted(gaps)


def security_md_gaps(text: str | None = None) -> list[str]:
    """Differences between the declared routes and SECURITY.md's (sorted)."""
    documented = security_md_routes(text)
    gaps: list[str] = []
    for declared in DECLARED.values():
        modes: tuple[str | None, ...] = MODES if declared.protocol == LR else (None,)
        for mode in modes:
            table = {
                (role_of(r.sender), role_of(r.receiver)) for r in routes_for(declared.kind, mode)
            }
            doc = documented.get((declared.cls, mode), set())
            if declared.kind == MessageKind.ABORT:
                doc = set().union(*(v for (name, _), v in documented.items() if name == "Abort"))
            where = f"{declared.cls}" + (f" ({mode})" if mode else "")
            gaps += [f"{where}: {s} → {r} not in SECURITY.md" for s, r in sorted(table - doc)]
            gaps += [f"{where}: SECURITY.md has {s} → {r}" for s, r in sorted(doc - table)]
    return sorted(gaps)
