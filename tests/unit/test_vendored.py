"""The browser libraries under src/paysys/api/static/vendor are exactly what `make vendor`
extracts from the pinned npm tarballs (scripts/vendor_ui.py): MANIFEST.json names each
package, version and tarball sha256, and each committed file's sha256. Offline."""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENDOR = runpy.run_path(str(ROOT / "scripts" / "vendor_ui.py"))
PAGES = ROOT / "src" / "paysys" / "api" / "static"


def test_the_vendored_files_are_the_pinned_packages() -> None:
    assert VENDOR["problems"]() == []


def test_every_package_keeps_its_license() -> None:
    for package in VENDOR["PACKAGES"]:
        assert "LICENSE" in package.files.values(), package.name


def test_the_pages_load_only_this_origin_s_files() -> None:
    """No page names another host: every script and stylesheet is under /static/."""
    for page in sorted(PAGES.glob("*.html")):
        text = page.read_text()
        assert "//" not in text.replace("<!doctype", ""), page.name
        assert "<script>" not in text, f"{page.name}: inline script (the CSP forbids it)"
