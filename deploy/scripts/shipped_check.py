"""Fails when what ships holds dev tooling: the paysys package of a wheel or an image.

    python shipped_check.py [SITE_DIR]

SITE_DIR holds the installed ``paysys`` package (an unpacked wheel, a venv's site-packages);
by default, wherever ``import paysys`` finds it. Used by tests/unit/test_package.py on the
wheel and by ``make smoke`` inside the image (stdlib only, so it runs there as is).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Dev tooling that lives in tools/ (paysys-tools) and must never ship.
DEV_TOOLING = (
    "paysys_tools",
    "devtools",
    "bench",
    "chaos",
    "latency_proxy",
    "otlp_sink",
    "dynalite",
    "localstack",
    "worker_log",
)
# `paysys local` needs its emulator launcher (with the emulator's billing meter), and nothing
# else of the kind.
LOCAL_MODULES = {
    "__init__.py",
    "emulator.py",
    "moto_atomic.py",
    "procs.py",
    "metering.py",
    "billing.py",
    "keepalive.py",
}


def problems(site: Path) -> list[str]:
    package = site / "paysys"
    if not (package / "cli.py").is_file():
        return [f"no paysys package in {site}"]
    found = [
        f"dev tooling shipped: {path.relative_to(site)}"
        for path in sorted(package.rglob("*"))
        if any(part.removesuffix(".py") in DEV_TOOLING for part in path.relative_to(site).parts)
    ]
    found += [
        f"dev tooling shipped: {site / name}" for name in DEV_TOOLING if (site / name).exists()
    ]
    local = {p.name for p in (package / "local").glob("*.py")}
    found += [
        f"paysys/local holds more than the emulator: {n}" for n in sorted(local - LOCAL_MODULES)
    ]
    return found


def main(argv: list[str]) -> int:
    if argv:
        site = Path(argv[0])
    else:
        import paysys  # noqa: PLC0415 - only where no directory is given

        site = Path(paysys.__file__).resolve().parents[1]
    found = problems(site)
    for problem in found:
        sys.stderr.write(problem + "\n")
    files = sum(1 for p in (site / "paysys").rglob("*") if p.is_file())
    sys.stdout.write(f"shipped: {files} files in paysys, {len(found)} problems\n")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
