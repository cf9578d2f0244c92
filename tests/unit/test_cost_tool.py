"""docs/testing.md's way to measure the cost per payment is the tool's real command line."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from paysys.local.metering import BILLING_PATH, RESET_PATH
from paysys_tools import cost

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"


def test_the_documented_command_parses() -> None:
    page = DOC.read_text()
    [line] = re.findall(r"^python -m paysys_tools\.cost .*$", page, re.MULTILINE)
    args = cost.parser().parse_args(shlex.split(line)[3:])
    assert args.payments == 1000
    assert args.json
    assert "--keyed" in page
    assert BILLING_PATH in page
    assert RESET_PATH in page


def test_the_summary_is_per_payment() -> None:
    meter = {
        "wru": {"PutItem": 3000.0, "UpdateItem": 5000.0},
        "rru": {},
        "calls": {"PutItem": 1000.0, "UpdateItem": 2000.0},
        "index_wru": {"PutItem": 2000.0, "UpdateItem": 3000.0},
        "tables": {"t": {"wru": {"PutItem": 3000.0, "UpdateItem": 5000.0}}},
    }
    result = cost.summary(meter, 1000, keyed=False, errors=0)
    assert result["wru_per_payment"] == 8.0
    assert result["rru_per_payment"] == 0.0
    assert result["wru_by_operation"] == {"PutItem": 3.0, "UpdateItem": 5.0}
    assert result["calls_per_payment"] == {"PutItem": 1.0, "UpdateItem": 2.0}
    assert result["wru_by_table"] == {"t": 8.0}
