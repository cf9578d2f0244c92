"""paysys's development tooling: the benchmark, emulator launchers, proxies and sinks.

Not shipped: the `paysys-tools` distribution (tools/pyproject.toml) is installed by `make venv`.
"""
