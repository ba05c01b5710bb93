"""The one registry idiom of hypergen: architecture families, datasets, GNNs, decoders and model sources.

Each component registers itself, in its own module, with its registry's decorator (``@register_family``,
``@register_dataset("name")``, ``@register_gnn("name")``, ``@register_decoder("name")``,
``@register_source("prefix")``). A :class:`Registry` finds the built-in components without a hand-kept list: on the
first lookup or listing it imports the modules of its package that use its decorator (a line starting with
``@register_dataset`` and so on), then the modules that installed packages name under its entry-point group
(``[project.entry-points."hypergen.datasets"]`` and so on). Nothing happens at ``import hypergen``, and a module that
imports its optional dependencies inside its functions stays cheap to discover. Adding a component is one new module
(plus, where ``hypergen-train`` should offer it, one yaml in the ``conf/`` group of the same name).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import pkgutil
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

__all__ = ["Registry", "lookup", "resolve"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable)

log = logging.getLogger(__name__)


def lookup(table: Mapping[str, T], name: str, what: str, error: type[Exception] = KeyError) -> T:
    """``table[name]``, or ``error`` naming ``what`` was asked for and listing the registered names."""
    try:
        return table[name]
    except KeyError:
        raise error(f"unknown {what} {name!r}; registered: {sorted(table)}") from None


def resolve(entry: T | str) -> T:
    """An entry registered lazily as ``"package.module:attribute"`` is imported on first use; others pass through.

    Raises:
        ImportError: if the module cannot be imported (e.g. an optional dependency is missing).
    """
    if not isinstance(entry, str):
        return entry
    module_name, _, attr = entry.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def _uses_decorator(module_name: str, decorator: str) -> bool:
    """Whether a line of the source of ``module_name`` starts with ``@<decorator>`` (a decorated definition; mentions
    in docstrings count too, which costs an import and nothing else). Modules without readable source: True."""
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return True
    with open(spec.origin, encoding="utf-8") as source:
        return re.search(rf"^\s*@{re.escape(decorator)}\b", source.read(), re.MULTILINE) is not None


class Registry(Mapping[str, T], Generic[T]):
    """Name -> component, filled by the components' own modules (see the module docstring).

    Reading it (``registry[name]``, ``name in registry``, iterating, :meth:`names`) first imports the modules that
    register built-in components, once. An entry may be registered as ``"module:attribute"``; it is imported when it
    is first looked up.

    Args:
        what: what an entry is, for messages, e.g. ``"dataset"``.
        package: the package whose modules hold the built-in components, e.g. ``"hypergen.data"``.
        decorator: the name of the registering decorator; only modules with a line starting with ``@<decorator>``
            are imported, so that discovery never imports plumbing modules (and their dependencies).
        entry_point_group: the group of Python entry points naming third-party modules to import, e.g.
            ``"hypergen.datasets"``; None for none.
        error: the exception raised for an unknown name.
        hint: what to do about an unknown name, appended to the message.
    """

    def __init__(self, what: str, package: str, decorator: str, *, entry_point_group: str | None = None,
                 error: type[Exception] = KeyError, hint: str = "") -> None:
        self.what, self.package, self.decorator = what, package, decorator
        self.entry_point_group, self.error, self.hint = entry_point_group, error, hint
        self._entries: dict[str, T | str] = {}
        self._import_errors: dict[str, ImportError] = {}
        self._discovered = False
        self._discovering = False

    def register(self, name: str, entry: T | str) -> None:
        """Add ``entry`` under ``name``, replacing an earlier one (except while the built-ins are being imported:
        then a name the user registered first keeps the user's entry)."""
        if self._discovering and name in self._entries:
            return
        self._entries[name] = entry

    def callable_decorator(self, name: str, takes: str) -> Callable[[F], F]:
        """A decorator that registers a callable (a factory function or class) under ``name`` and returns it.

        Args:
            name: the registry key.
            takes: what the decorator expects, for the error message (e.g. ``"a factory of the GHNConfig"``).

        Raises:
            TypeError: (from the decorator) the decorated object is not callable (names the key).
        """

        def decorator(factory: F) -> F:
            if not callable(factory):
                raise TypeError(f"{self.what} {name!r}: @{self.decorator} takes {takes}, got {factory!r}")
            self.register(name, factory)
            return factory

        return decorator

    def __setitem__(self, name: str, entry: T | str) -> None:
        """``registry[name] = entry``: the same as :meth:`register` (kept for code written before the decorators)."""
        self.register(name, entry)

    def discover(self) -> None:
        """Import the modules that register built-in and entry-point components (once; later calls do nothing).

        A module whose import fails with ``ImportError`` is remembered and named when a lookup misses; any other
        error propagates (it is a bug in that module).
        """
        if self._discovered:
            return
        self._discovered = self._discovering = True
        try:
            package = importlib.import_module(self.package)
            for info in pkgutil.iter_modules(package.__path__, f"{self.package}."):
                if _uses_decorator(info.name, self.decorator):
                    self._import(info.name)
            if self.entry_point_group is not None:
                for entry_point in importlib.metadata.entry_points(group=self.entry_point_group):
                    self._import(entry_point.module)
        finally:
            self._discovering = False

    def _import(self, module_name: str) -> None:
        try:
            importlib.import_module(module_name)
        except ImportError as err:
            log.warning("%s registry: module %s could not be imported (%s); its entries are missing",
                        self.what, module_name, err)
            self._import_errors[module_name] = err

    def __getitem__(self, name: str) -> T:
        """The entry registered as ``name`` (a lazy ``"module:attribute"`` entry is imported now).

        Raises:
            error (``KeyError`` unless the registry says otherwise): an unknown name; the message lists the
                registered names, modules that could not be imported, and the registry's hint.
            ImportError: the entry's module cannot be imported; the message names the entry.
        """
        self.discover()
        if name not in self._entries:
            raise self.error(self._unknown_message(name))
        entry = self._entries[name]
        if isinstance(entry, str):
            try:
                entry = resolve(entry)
            except ImportError as err:
                raise ImportError(f"{self.what} {name!r} ({self._entries[name]}) cannot be imported: {err}") from err
            self._entries[name] = entry
        return entry  # type: ignore[return-value]

    def _unknown_message(self, name: str) -> str:
        message = f"unknown {self.what} {name!r}; registered: {self.names()}"
        if self._import_errors:
            failed = "; ".join(f"{module}: {err}" for module, err in self._import_errors.items())
            message += f" (modules that could not be imported: {failed})"
        return f"{message}. {self.hint}" if self.hint else message

    def __contains__(self, name: object) -> bool:
        self.discover()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self.discover()
        return len(self._entries)

    def names(self) -> list[str]:
        """The registered names, sorted."""
        self.discover()
        return sorted(self._entries)

    def copy(self) -> Registry[T]:
        """A registry with the same entries and settings (e.g. for a test that registers temporary entries)."""
        self.discover()
        other: Registry[T] = Registry(self.what, self.package, self.decorator,
                                      entry_point_group=self.entry_point_group, error=self.error, hint=self.hint)
        other._entries, other._import_errors = dict(self._entries), dict(self._import_errors)
        other._discovered = True
        return other

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, package={self.package!r}, entries={sorted(self._entries)})"
