"""Pretrained GHNs by name: the ones shipped inside the package, and any a user adds from a folder or a URL.

A pretrained GHN is a checkpoint (:func:`~hypergen.ghn.checkpoint.save_ghn`) with a *model card*: a JSON file next to
it (``<name>.json``) that says what it was trained on (data, input shape, architecture families and splits), how it
was measured and with which command it was made. ``hypergen.load_ghn(name)`` loads one by name; nothing is ever
downloaded at import time or implicitly: a URL is fetched only when a user registers or loads it, into a cache folder.

Shipped GHNs live in ``hypergen/pretrained/`` (``<name>.safetensors`` + ``<name>.json``). A user's folder of such
pairs is added with :func:`register_pretrained_dir` (or listed in ``$HYPERGEN_PRETRAINED_PATH``); a single file or
URL with :func:`register_pretrained`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CACHE_ENV", "PATH_ENV", "PretrainedGHN", "PretrainedRegistry", "default_pretrained", "fetch_url",
    "list_pretrained",
    "register_pretrained", "register_pretrained_dir", "resolve_ghn",
]

log = logging.getLogger(__name__)

#: Folder of the GHNs shipped with hypergen.
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
#: Environment variable naming the folder downloaded checkpoints are cached in (default ``~/.cache/hypergen``).
CACHE_ENV = "HYPERGEN_CACHE"
#: Environment variable listing more folders of pretrained GHNs (separated by ``os.pathsep``), e.g. for the CLI.
PATH_ENV = "HYPERGEN_PRETRAINED_PATH"
_URL_SCHEMES = ("http://", "https://", "file://")


@dataclass(frozen=True)
class PretrainedGHN:
    """A named GHN checkpoint and its model card.

    Attributes:
        name: the name ``load_ghn`` takes.
        source: a local ``.safetensors`` path or a URL.
        card: the model card (``description``, ``data``, ``input_shape``, ``families``, ``splits``, ``accuracy``,
            ``command``...; free-form JSON).
    """

    name: str
    source: str
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def description(self) -> str:
        """One line for listings."""
        return str(self.card.get("description", ""))


class PretrainedRegistry:
    """Named pretrained GHNs. The shipped ones are listed on first use (never at import time)."""

    def __init__(self, shipped_dir: Path | None = SHIPPED_DIR) -> None:
        self._entries: dict[str, PretrainedGHN] = {}
        self._shipped_dir = shipped_dir

    def _ensure_shipped(self) -> None:
        if self._shipped_dir is not None:
            folder, self._shipped_dir = self._shipped_dir, None
            if folder.is_dir():
                self.register_dir(folder)

    def register(self, name: str, source: str | Path, card: dict[str, Any] | None = None,
                 overwrite: bool = False) -> PretrainedGHN:
        """Add a GHN under ``name``.

        Args:
            name: the name to load it by.
            source: a ``.safetensors`` file or a URL (``https://``, ``file://``), fetched on first load.
            card: its model card; for a local file without one, ``<file stem>.json`` next to it is read if present.
            overwrite: replace an existing entry of that name.

        Raises:
            ValueError: the name is taken (and ``overwrite`` is false), or a local ``source`` does not exist.
        """
        self._ensure_shipped()
        if name in self._entries and not overwrite:
            raise ValueError(f"a pretrained GHN named {name!r} is already registered ({self._entries[name].source}); "
                             "pick another name or pass overwrite=True")
        text = str(source)
        if not text.startswith(_URL_SCHEMES):
            path = Path(text).expanduser()
            if not path.is_file():
                raise ValueError(f"pretrained GHN {name!r}: {text!r} is not a file (give a .safetensors checkpoint "
                                 "or a URL)")
            text = str(path.resolve())
            sidecar = path.with_suffix(".json")
            if card is None and sidecar.is_file():
                card = json.loads(sidecar.read_text())
        entry = PretrainedGHN(name, text, dict(card or {}))
        self._entries[name] = entry
        return entry

    def register_dir(self, folder: str | Path) -> list[PretrainedGHN]:
        """Add every ``<name>.safetensors`` of ``folder`` (with its ``<name>.json`` card when present).

        Raises:
            NotADirectoryError: ``folder`` is not a folder.
        """
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise NotADirectoryError(f"{str(folder)!r} is not a folder of pretrained GHNs (<name>.safetensors files)")
        return [self.register(path.stem, path, overwrite=True) for path in sorted(folder.glob("*.safetensors"))]

    def get(self, name: str) -> PretrainedGHN:
        """The entry registered as ``name``.

        Raises:
            KeyError: unknown name (lists the registered ones).
        """
        self._ensure_shipped()
        if name not in self._entries:
            raise KeyError(f"no pretrained GHN named {name!r}; registered: {sorted(self._entries)} (or give the path "
                           "of a .safetensors checkpoint)")
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        self._ensure_shipped()
        return name in self._entries

    def entries(self) -> list[PretrainedGHN]:
        """All entries, sorted by name."""
        self._ensure_shipped()
        return [self._entries[name] for name in sorted(self._entries)]


_DEFAULT: list[PretrainedRegistry] = []


def default_pretrained() -> PretrainedRegistry:
    """The registry ``load_ghn`` and the CLI use (created on first call, with the shipped GHNs and those of the
    folders in ``$HYPERGEN_PRETRAINED_PATH``)."""
    if not _DEFAULT:
        registry = PretrainedRegistry()
        for folder in filter(None, os.environ.get(PATH_ENV, "").split(os.pathsep)):
            registry.register_dir(folder)
        _DEFAULT.append(registry)
    return _DEFAULT[0]


def register_pretrained(name: str, source: str | Path, card: dict[str, Any] | None = None,
                        overwrite: bool = False) -> PretrainedGHN:
    """Add a GHN to the default registry (see :meth:`PretrainedRegistry.register`)."""
    return default_pretrained().register(name, source, card, overwrite)


def register_pretrained_dir(folder: str | Path) -> list[PretrainedGHN]:
    """Add a folder of ``<name>.safetensors`` (+ ``<name>.json``) to the default registry."""
    return default_pretrained().register_dir(folder)


def list_pretrained() -> list[PretrainedGHN]:
    """The GHNs of the default registry, shipped ones included."""
    return default_pretrained().entries()


def fetch_url(url: str, cache_dir: str | Path | None = None) -> Path:
    """Download ``url`` once into the cache (``$HYPERGEN_CACHE`` or ``~/.cache/hypergen``) and return the file.

    Only called when a user loads a URL; the file name is a digest of the URL, so a second load reads the cache.

    Raises:
        OSError: the download failed (names the URL).
    """
    folder = Path(cache_dir or os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "hypergen") / "ghn"
    target = folder / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}.safetensors"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    log.info("downloading GHN checkpoint %s to %s", url, target)
    try:
        with urllib.request.urlopen(url) as response, open(partial, "wb") as out:  # noqa: S310 (the user's URL)
            while chunk := response.read(1 << 20):
                out.write(chunk)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise OSError(f"could not download the GHN checkpoint {url}: {err}") from err
    partial.replace(target)
    return target


def resolve_ghn(name_or_path: str | Path) -> Path:
    """The local checkpoint file for a path, a URL (downloaded once) or a registered name.

    Raises:
        FileNotFoundError: neither an existing file, a URL nor a registered name (lists the names).
    """
    text = str(name_or_path)
    if text.startswith(_URL_SCHEMES):
        return fetch_url(text)
    path = Path(text).expanduser()
    if path.is_file():
        return path
    registry = default_pretrained()
    if text in registry:
        source = registry.get(text).source
        return fetch_url(source) if source.startswith(_URL_SCHEMES) else Path(source)
    names = [entry.name for entry in registry.entries()]
    raise FileNotFoundError(f"GHN checkpoint {text!r} does not exist and is not the name of a pretrained GHN "
                            f"(pretrained: {names}; `hypergen pretrained` lists them)")
