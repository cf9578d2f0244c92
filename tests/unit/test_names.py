"""Per-run resource names (tools/paysys_tools/names.py): every resource setting renamed."""

from __future__ import annotations

import dataclasses

from paysys.config import Settings
from paysys_tools.names import RESOURCE_NAME_FIELDS, names_env, per_run


def test_a_run_renames_every_resource_and_nothing_else() -> None:
    base = Settings()
    run = per_run(base, "t1")
    assert "outcomes_topic_name" in RESOURCE_NAME_FIELDS
    for field in dataclasses.fields(Settings):
        before, after = getattr(base, field.name), getattr(run, field.name)
        if field.name in RESOURCE_NAME_FIELDS:
            assert after == f"t1-{before}"
        else:
            assert after == before, field.name
    assert set(names_env(run)) == {f"PAYSYS_{name.upper()}" for name in RESOURCE_NAME_FIELDS}
    assert Settings.from_env(names_env(run)) == run
