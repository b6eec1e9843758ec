"""Import paths and provenance: which object a config string names, and which package installed it.

A leaf of the core: it imports nothing of ours, so the registry, the module
checkpoints and the configs can all use it without an import cycle.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import importlib.util
import json
import os
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

__all__ = [
    "BUILTIN_DISTRIBUTION",
    "class_provenance",
    "distribution_of",
    "distribution_of_module",
    "import_object",
    "is_import_path",
    "own_version",
]

#: The distribution that ships the core and the built-in plugins.
BUILTIN_DISTRIBUTION = "rl8-core"


def is_import_path(name: str) -> bool:
    """Return whether a component reference is an import path (contains ``.`` or ``:``).

    Examples:
        >>> is_import_path("mlp"), is_import_path("acme_rl8:FlatTanh")
        (False, True)
    """
    return "." in name or ":" in name


def import_object(path: str) -> Any:
    """Import ``"pkg.module:attr"`` or ``"pkg.module.attr"`` and return the object.

    Raises:
        ImportError: Naming the path and the reason.

    Examples:
        >>> import_object("collections:OrderedDict").__name__
        'OrderedDict'
        >>> import_object("collections.OrderedDict").__name__
        'OrderedDict'
    """
    if ":" in path:
        module_name, _, attr = path.partition(":")
    else:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ImportError(f"{path!r} is not an import path like 'package.module:Name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"cannot import {path!r}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ImportError(f"cannot import {path!r}: {module_name!r} has no attribute {attr!r}") from None
    return obj


def own_version() -> str | None:
    """Return the installed version of rl8-core, or ``None`` for an uninstalled source tree."""
    try:
        return metadata.version(BUILTIN_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None


class _DistributionIndex:
    """Top-level module name -> ``(distribution, version)``, for :func:`distribution_of_module`.

    Two sources, read once (the installed files take ~0.3 s to index) and read
    again only when a name is missing and ``sys.path`` has changed since:

    * the files each distribution installed (``packages_distributions()``),
    * for an editable install (``direct_url.json`` says ``dir_info.editable``),
      its project directory: a module that the import system finds in there
      belongs to it, whatever the layout and whatever editable mechanism
      (``.pth`` file or import hook) put it on the path; such installs list
      no package files.
    """

    def __init__(self) -> None:
        self._path: tuple[str, ...] | None = None
        self._installed: Mapping[str, list[str]] = {}
        #: (project directory, distribution), deepest directory first.
        self._editable: list[tuple[str, str]] = []
        self._found: dict[str, tuple[str, str | None]] = {}
        self._missing: set[str] = set()

    def lookup(self, top: str) -> tuple[str | None, str | None]:
        if top in self._found:
            return self._found[top]
        path = tuple(sys.path)
        if path != self._path:
            self._scan(path)
        elif top in self._missing:
            return None, None
        name = self._distribution(top)
        if name is None:
            self._missing.add(top)
            return None, None
        try:
            version: str | None = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = None
        self._found[top] = (name, version)
        return name, version

    def _scan(self, path: tuple[str, ...]) -> None:
        self._path, self._missing = path, set()
        self._installed = metadata.packages_distributions()
        editable = []
        for dist in metadata.distributions():
            try:
                info = json.loads(dist.read_text("direct_url.json") or "{}")
            except ValueError:
                continue
            url = info.get("url", "") if isinstance(info, dict) else ""
            if url.startswith("file:") and (info.get("dir_info") or {}).get("editable"):
                editable.append((os.path.realpath(url2pathname(urlparse(url).path)), dist.metadata["Name"]))
        self._editable = sorted(editable, key=lambda e: -len(e[0]))

    def _distribution(self, top: str) -> str | None:
        names = self._installed.get(top)
        if names:
            return names[0]
        if not self._editable:
            return None
        module = sys.modules.get(top)
        try:
            spec = getattr(module, "__spec__", None) if module is not None else importlib.util.find_spec(top)
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        places = list(spec.submodule_search_locations or ())  # a package's directory, a namespace's portions
        if not places and spec.has_location and spec.origin:
            places.append(spec.origin)  # a module's file
        for place in map(os.path.realpath, places):
            if os.path.basename(os.path.dirname(place)) in ("site-packages", "dist-packages"):
                continue  # installed there, not by an editable install whose project holds that site
            for project, name in self._editable:
                if place.startswith(project + os.sep):
                    return name
        return None


#: Filled on first use; see :class:`_DistributionIndex`.
_DIST_CACHE = _DistributionIndex()


def distribution_of_module(module: str) -> tuple[str | None, str | None]:
    """Return ``(distribution, version)`` that installed the module ``module`` (``None``s if unknown).

    Found from the files that distributions installed or, for an editable
    install, from where the module lies: inside its project directory. The
    first call indexes the installed distributions (~0.3 s); later ones are a
    dictionary lookup, until a name is missing after ``sys.path`` changed.

    Examples:
        >>> distribution_of_module("rl8_core.imports")[0]
        'rl8-core'
        >>> distribution_of_module("collections")
        (None, None)
    """
    top = module.split(".")[0]
    if top in ("", "__main__"):
        return None, None
    return _DIST_CACHE.lookup(top)


def distribution_of(obj: Any) -> tuple[str | None, str | None]:
    """Return ``(distribution, version)`` of the package that defines ``obj`` (a class or function)."""
    return distribution_of_module(getattr(obj, "__module__", None) or "")


def class_provenance(classes: Mapping[str, Any]) -> list[dict[str, str | None]]:
    """Say where each class comes from (``module:qualname``, distribution, version), by role.

    Stored in checkpoint metadata so that loading a module whose package is
    missing names the distribution to install, as it does for components.

    Examples:
        >>> class_provenance({"odict": __import__("collections").OrderedDict})[0]["object"]
        'collections:OrderedDict'
    """
    out: list[dict[str, str | None]] = []
    for role, obj in classes.items():
        if obj is None:
            continue
        module = getattr(obj, "__module__", None) or "?"
        dist, version = distribution_of_module(module)
        qualname = getattr(obj, "__qualname__", type(obj).__qualname__)
        out.append({"role": role, "object": f"{module}:{qualname}", "distribution": dist, "version": version})
    return out
