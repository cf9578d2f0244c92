"""Rewrite the settings table in docs/reference/configuration.md from `paysys config --markdown`.

Run by `make docs`; tests/unit/test_config.py fails while the page and the code disagree.
"""

import subprocess
import sys
from pathlib import Path

page = Path(__file__).resolve().parents[1] / "docs" / "reference" / "configuration.md"
table = subprocess.run(
    [sys.executable, "-m", "paysys", "config", "--markdown"],
    capture_output=True,
    text=True,
    check=True,
).stdout
lines = page.read_text().splitlines(keepends=True)
start = next(i for i, line in enumerate(lines) if line.startswith("| Variable | Default |"))
end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
page.write_text("".join(lines[:start]) + table + "".join(lines[end:]))
