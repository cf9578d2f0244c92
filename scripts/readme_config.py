"""Rewrite the configuration table in README.md from `paysys config --markdown`."""

import subprocess
import sys
from pathlib import Path

readme = Path(__file__).resolve().parents[1] / "README.md"
table = subprocess.run(
    [sys.executable, "-m", "paysys", "config", "--markdown"],
    capture_output=True,
    text=True,
    check=True,
).stdout.rstrip("\n")
text = readme.read_text()
start = text.index("| Variable | Default | Meaning |")
end = text.index("\n\n", start)
readme.write_text(text[:start] + table + text[end:])
