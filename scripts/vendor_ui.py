"""Vendor the browser libraries the API's pages use into src/paysys/api/static/vendor/.

    python scripts/vendor_ui.py           # fetch the pinned tarballs, check them, extract
    python scripts/vendor_ui.py --check   # offline: the committed files match MANIFEST.json

Run by `make vendor`. Each package is fetched with `npm pack NAME@VERSION` (the npm client, its
registry and cache as configured), its tarball's sha256 is checked against the pin below, and
only the files the pages load, plus the licenses, are extracted. The result is committed, so
serving and testing never touch the network; MANIFEST.json records what came from where, and
tests/unit/test_vendored.py checks the committed files against it. Moving a pin: change the
version, run once to see the new sha256 in the error, check the release, and pin it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "src" / "paysys" / "api" / "static" / "vendor"
MANIFEST = VENDOR / "MANIFEST.json"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    sha256: str  # of the npm tarball
    directory: str  # under vendor/
    files: dict[str, str]  # path in the tarball (under package/) -> name under directory


PACKAGES = (
    Package(
        "swagger-ui-dist",
        "5.35.0",
        "1b8e891893404ea4c3558b6a87e2a3e494e7eedba41168c2ece5800a391a6ea6",
        "swagger-ui",
        {
            "swagger-ui-bundle.js": "swagger-ui-bundle.js",
            "swagger-ui.css": "swagger-ui.css",
            "LICENSE": "LICENSE",
            "NOTICE": "NOTICE",
            "swagger-ui-bundle.js.LICENSE.txt": "swagger-ui-bundle.js.LICENSE.txt",
        },
    ),
    Package(
        "uplot",
        "1.6.32",
        "4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d",
        "uplot",
        {
            "dist/uPlot.iife.min.js": "uPlot.iife.min.js",
            "dist/uPlot.min.css": "uPlot.min.css",
            "LICENSE": "LICENSE",
        },
    ),
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(package: Package, into: Path) -> Path:
    spec = f"{package.name}@{package.version}"
    command = ["npm", "pack", spec, "--json", "--ignore-scripts", "--pack-destination", str(into)]
    out = subprocess.run(  # noqa: S603 - the pinned spec above, npm from PATH
        command,
        capture_output=True,
        text=True,
        check=True,
        cwd=into,
    ).stdout
    (packed,) = json.loads(out)
    return into / packed["filename"]


def extract(package: Package, tarball: Path) -> dict[str, str]:
    data = tarball.read_bytes()
    if sha256(data) != package.sha256:
        raise SystemExit(
            f"{package.name}@{package.version}: tarball sha256 {sha256(data)} is not the "
            f"pinned {package.sha256}"
        )
    target = VENDOR / package.directory
    target.mkdir(parents=True, exist_ok=True)
    for old in target.iterdir():
        old.unlink()
    written = {}
    with tarfile.open(tarball) as archive:
        for inside, name in package.files.items():
            member = archive.extractfile(f"package/{inside}")
            if member is None:
                raise SystemExit(f"{package.name}: no file {inside} in the tarball")
            content = member.read()
            (target / name).write_bytes(content)
            written[f"{package.directory}/{name}"] = sha256(content)
    return written


def manifest(files: dict[str, dict[str, str]]) -> dict[str, object]:
    return {
        "made_by": "make vendor (scripts/vendor_ui.py)",
        "packages": [
            {
                "npm": f"{p.name}@{p.version}",
                "tarball_sha256": p.sha256,
                "files": files[p.name],
            }
            for p in PACKAGES
        ],
    }


def problems() -> list[str]:
    """What differs between the committed files, MANIFEST.json and the pins (offline)."""
    recorded = json.loads(MANIFEST.read_text())
    found = []
    pins = [f"{p.name}@{p.version}:{p.sha256}" for p in PACKAGES]
    listed = [f"{p['npm']}:{p['tarball_sha256']}" for p in recorded["packages"]]
    if pins != listed:
        found.append(f"MANIFEST.json lists {listed}, the pins are {pins}: run `make vendor`")
    expected = {name for p in recorded["packages"] for name in p["files"]}
    for package in recorded["packages"]:
        for name, digest in package["files"].items():
            path = VENDOR / name
            if not path.is_file():
                found.append(f"{name} is missing")
            elif sha256(path.read_bytes()) != digest:
                found.append(f"{name} differs from {package['npm']}")
    present = {
        p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*") if p.is_file() and p != MANIFEST
    }
    found += [f"{name} is not from a pinned package" for name in sorted(present - expected)]
    return found


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        found = problems()
        for problem in found:
            sys.stderr.write(problem + "\n")
        return 1 if found else 0
    files = {}
    with tempfile.TemporaryDirectory() as scratch:
        for package in PACKAGES:
            files[package.name] = extract(package, fetch(package, Path(scratch)))
            sys.stdout.write(f"vendored {package.name}@{package.version}\n")
    MANIFEST.write_text(json.dumps(manifest(files), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
