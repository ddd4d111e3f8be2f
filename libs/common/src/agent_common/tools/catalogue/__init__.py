"""One module per tool, each defining `SPEC`; found here, so adding a tool edits no list."""

from __future__ import annotations

from collections.abc import Iterable

from agent_common.tools.discovery import defined_in_modules
from agent_common.tools.spec import ToolSpec


def discover_specs(package: str = __name__, paths: Iterable[str] = __path__) -> dict[str, ToolSpec]:
    """Every `SPEC` in the modules of `package`, by tool name; two tools with one name is an error."""
    specs: dict[str, ToolSpec] = {}
    for module, spec in defined_in_modules(package, paths, "SPEC"):
        if not isinstance(spec, ToolSpec):
            raise TypeError(f"{module}.SPEC must be a ToolSpec")
        if spec.name in specs:
            raise ValueError(f"two tools are named {spec.name!r}")
        specs[spec.name] = spec
    return specs
