"""A party's model registry: every trained model kept as a new, immutable version.

Each ``hetero_lr`` step of a job saves the party's model twice: as
``step-<i>-model.json`` (overwritten by the next run, as before) and as a new version
in the party's registry folder ``<output_dir>/<party>/models/``::

    v<N>-<UTC time>-<first 12 hex digits of the file's SHA-256>.json

``N`` counts up from 1 across runs; a version is never overwritten (it is linked into
place under a name no file has, then made read-only), and its name carries the start
of its SHA-256, so a file edited afterwards is refused when loaded.  A ``score`` step
picks a version with ``model_version`` (``"latest"``, a number or a file name).

Examples
--------
>>> import tempfile
>>> from vfl.tables.models import PartyModel
>>> model = PartyModel("bank-a", "guest", ["x"], [0.5], 0.1, None, "shared", "paillier",
...                    2048, ["bank-b"])
>>> with tempfile.TemporaryDirectory() as folder:
...     first = save_version(Path(folder), model)
...     second = save_version(Path(folder), model)
...     [v.number for v in list_versions(Path(folder))], find_version(Path(folder), "latest").number
([1, 2], 2)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from vfl.exceptions import DataError
from vfl.tables.models import PartyModel

__all__ = [
    "ModelVersion",
    "check_version_request",
    "find_version",
    "list_versions",
    "registry_folder",
    "save_version",
]

_NAME = re.compile(
    r"^v(?P<number>[1-9][0-9]*)-(?P<created>[0-9]{8}T[0-9]{6}Z)-(?P<hash>[0-9a-f]{12})\.json$"
)


@dataclass(frozen=True)
class ModelVersion:
    """One version in a registry folder.

    Attributes
    ----------
    number : int
        ``N`` of ``v<N>-...json`` (1 for the first model saved there).
    path : pathlib.Path
        The file.
    created : str
        When it was saved, UTC, as in its name (``20261207T175500Z``).
    short_hash : str
        The first 12 hex digits of the file's SHA-256, as in its name.
    """

    number: int
    path: Path
    created: str
    short_hash: str

    @property
    def name(self) -> str:
        """The file name (``v3-20261207T175500Z-0123456789ab.json``)."""
        return self.path.name

    def sha256(self) -> str:
        """The SHA-256 of the file's bytes, in hex."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    def load(self) -> PartyModel:
        """The model, after checking that the file is as it was saved.

        Raises
        ------
        DataError
            If the file's SHA-256 no longer starts with the hash in its name (it was
            edited after it was saved).
        """
        if not self.sha256().startswith(self.short_hash):
            raise DataError(
                f"{self.path}: the file was changed after it was saved (its SHA-256 no longer "
                f"starts with {self.short_hash}, as its name says); versions are immutable: "
                "score with another version, or train again to save a new one"
            )
        return PartyModel.load(self.path)


def registry_folder(party_folder: Path) -> Path:
    """A party's registry folder: ``models/`` in its output folder."""
    return party_folder / "models"


def list_versions(folder: Path) -> list[ModelVersion]:
    """The versions in ``folder``, oldest (lowest number) first; none if it does not exist.

    Files whose names are not ``v<N>-<UTC time>-<hash>.json`` are ignored.
    """
    if not folder.is_dir():
        return []
    versions = []
    for path in folder.iterdir():
        match = _NAME.match(path.name)
        if match and path.is_file():
            versions.append(
                ModelVersion(int(match["number"]), path, match["created"], match["hash"])
            )
    return sorted(versions, key=lambda v: (v.number, v.name))


def save_version(folder: Path, model: PartyModel, *, now: datetime | None = None) -> ModelVersion:
    """Save ``model`` as the next version in ``folder`` (created if needed), never overwriting.

    Parameters
    ----------
    folder : pathlib.Path
        The registry folder (:func:`registry_folder`).
    model : PartyModel
    now : datetime, optional
        The time in the name (default: now, UTC).

    Returns
    -------
    ModelVersion
        The new version (its number is one more than the highest in the folder).

    Raises
    ------
    OSError
        If the file cannot be written (no temporary file is left behind).
    """
    folder.mkdir(parents=True, exist_ok=True)
    content = (json.dumps(model.to_dict(), indent=2) + "\n").encode("utf-8")
    digest = hashlib.sha256(content).hexdigest()
    created = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".saving-", suffix=".json")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        while True:
            existing = list_versions(folder)
            number = existing[-1].number + 1 if existing else 1
            target = folder / f"v{number}-{created}-{digest[:12]}.json"
            try:
                os.link(temporary, target)  # fails if the name exists: never overwrites
            except FileExistsError:
                continue
            break
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    with contextlib.suppress(OSError):  # read-only: a reminder that versions are immutable
        os.chmod(target, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    return ModelVersion(number, target, created, digest[:12])


def check_version_request(value: object) -> str | None:
    """Why ``value`` is not a valid ``model_version`` (``None``: it is).

    Valid: ``"latest"``, an integer >= 1, or a version's file name.
    """
    if isinstance(value, bool):
        return 'expected "latest", a version number or a version file name, got a boolean'
    if isinstance(value, int):
        return None if value >= 1 else "a version number is 1 or more"
    if isinstance(value, str):
        if value == "latest" or _NAME.match(value):
            return None
        return (
            f'{value!r} is not "latest", a number or a version file name '
            "(v<N>-<UTC time>-<hash>.json)"
        )
    return 'expected "latest", a version number or a version file name'


def find_version(folder: Path, wanted: str | int) -> ModelVersion:
    """The version ``wanted`` names in ``folder``.

    Parameters
    ----------
    folder : pathlib.Path
        A registry folder.
    wanted : str or int
        ``"latest"`` (the highest number), a number, or a file name.

    Returns
    -------
    ModelVersion

    Raises
    ------
    DataError
        If there is no such version; the message lists the versions there are.
    """
    versions = list_versions(folder)
    if not versions:
        raise DataError(
            f"no model versions in {folder}: train first (each hetero_lr step saves one "
            "there), or point models_registry at the output_dir of the training job"
        )
    if wanted == "latest":
        return versions[-1]
    found = [v for v in versions if v.number == wanted or v.name == wanted]
    if not found:
        available = ", ".join(f"{v.number} ({v.name})" for v in versions)
        raise DataError(
            f"model version {wanted!r} is not in {folder}; available: {available}. "
            'Set model_version to one of these numbers or file names, or to "latest"'
        )
    return found[-1]
