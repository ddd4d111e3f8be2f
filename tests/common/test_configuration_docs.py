"""docs/configuration.md documents every setting the services read, and nothing else."""

from __future__ import annotations

import re

from scripts.config_docs import PAGE, env_name, render, settings_users


def test_configuration_page_is_generated_from_the_settings_classes() -> None:
    assert PAGE.read_text() == render(), "run: .venv/bin/python scripts/config_docs.py"


def test_every_setting_is_documented_with_a_meaning() -> None:
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", PAGE.read_text(), flags=re.M))
    expected = {env_name(cls, field) for cls in settings_users() for field in cls.model_fields}
    assert documented == expected
    for cls in settings_users():
        for field, info in cls.model_fields.items():
            assert info.description, f"{env_name(cls, field)} has no docstring"
