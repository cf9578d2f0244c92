"""Per-run AWS resource names: one helper for the tests and the bench, so a run never shares
a table, topic or queue with another and no resource setting is forgotten."""

from __future__ import annotations

import dataclasses

from paysys.config import Settings, env_name

# Every setting that names an AWS resource (table, topic, queue), read from the settings.
RESOURCE_NAME_FIELDS = tuple(
    f.name for f in dataclasses.fields(Settings) if f.name.endswith("_name")
)


def per_run(settings: Settings, prefix: str) -> Settings:
    """``settings`` with every resource renamed ``<prefix>-<its name>``."""
    names = {name: f"{prefix}-{getattr(settings, name)}" for name in RESOURCE_NAME_FIELDS}
    return settings.replace(**names)


def names_env(settings: Settings) -> dict[str, str]:
    """The ``PAYSYS_*_NAME`` variables that give a role process ``settings``' resources."""
    return {env_name(name): getattr(settings, name) for name in RESOURCE_NAME_FIELDS}
