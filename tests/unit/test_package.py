"""The shipped wheel holds the product only: no bench, proxy, sink or launcher beyond the
emulator `paysys local` needs (the image installs this same wheel; ``make smoke`` runs the
same check inside it)."""

from __future__ import annotations

import runpy
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECK = runpy.run_path(str(ROOT / "deploy" / "scripts" / "shipped_check.py"))


def test_the_wheel_ships_no_dev_tooling(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("paysys-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "site")
    top = {name.split("/")[0] for name in names}
    assert top == {"paysys", wheel.name.removesuffix("-py3-none-any.whl") + ".dist-info"}
    assert "paysys/api/openapi.json" in names, "the wheel holds the package's data files"
    assert "paysys/local/emulator.py" in names, "`paysys local` keeps its emulator"
    vendored = ("swagger-ui/swagger-ui-bundle.js", "uplot/uPlot.iife.min.js", "MANIFEST.json")
    for name in vendored:  # the pages' libraries ship: nothing is fetched at run time
        assert f"paysys/api/static/vendor/{name}" in names, name
    assert CHECK["problems"](tmp_path / "site") == []


def test_the_check_finds_dev_tooling(tmp_path: Path) -> None:
    package = tmp_path / "paysys"
    (package / "local").mkdir(parents=True)
    (package / "cli.py").write_text("")
    (package / "local" / "emulator.py").write_text("")
    assert CHECK["problems"](tmp_path) == []
    (package / "local" / "latency_proxy.py").write_text("")
    (tmp_path / "paysys_tools").mkdir()
    found = CHECK["problems"](tmp_path)
    assert any("latency_proxy" in problem for problem in found)
    assert any("paysys_tools" in problem for problem in found)
