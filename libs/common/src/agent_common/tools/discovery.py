"""Finding what each module of a package defines, so a new module needs no list edited."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Iterator


def defined_in_modules(package: str, paths: Iterable[str], attribute: str) -> Iterator[tuple[str, object]]:
    """(module name, its `attribute`) for every module of `package`, in name order;
    a module without the attribute is an error, not something to skip silently."""
    for module_info in sorted(pkgutil.iter_modules(list(paths)), key=lambda m: m.name):
        module = importlib.import_module(f"{package}.{module_info.name}")
        if not hasattr(module, attribute):
            raise TypeError(f"{module.__name__} must define {attribute}")
        yield module.__name__, getattr(module, attribute)
