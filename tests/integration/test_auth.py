"""PAYSYS_AUTH and PAYSYS_API_KEYS: every key entry is checked at start with an error that says
what is wrong; the API refuses to start without a valid key unless auth is open; `paysys local`
is open and says why; open means no check at all."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from paysys.api.auth import ApiKeys, Caller, decide_auth, hash_key, new_key
from paysys.config import Settings
from paysys.core.domain import DEFAULT_MERCHANT
from paysys.core.limits import MERCHANT_ID_MAX_BYTES
from paysys.errors import ConfigError
from paysys.runtime.resources import Resources

from ..conftest import KeyedApi, make_app, serving, settle_counts

KEY, HASH = new_key()
RAW_KEY_HINT = "looks like a raw key: configure its SHA-256 hash, see `paysys keygen`"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (",", "entry 1 of 2 is empty (a stray comma?); entry 2 of 2 is empty"),
        (f"{HASH},,{HASH}", "entry 2 of 3 is empty"),
        (f"{HASH}, ", "entry 2 of 2 is empty"),
        (KEY, f"entry 1 of 1 {RAW_KEY_HINT}"),
        (f"{HASH},{KEY.removeprefix('psk_')}", f"entry 2 of 2 {RAW_KEY_HINT}"),
        (HASH[:40], "entry 1 of 1 has 40 hex digits: a SHA-256 hash has 64"),
        (HASH[:63] + "g", "entry 1 of 1 has 64 characters but not only hex digits (0-9, a-f)"),
        (
            f"acme:{HASH},{HASH},globex:{HASH.upper()}",
            "entry 2 of 3 has the key of entry 1 under another merchant; entry 3 of 3 has the "
            "key of entry 1 under another merchant",
        ),
        (
            f"Acme Corp:{HASH}",
            f"entry 1 of 1 has a merchant id that is not 1-{MERCHANT_ID_MAX_BYTES} of a-z, 0-9, "
            "_ and -, starting with a-z or 0-9 (before the colon)",
        ),
        (
            f"{'m' * (MERCHANT_ID_MAX_BYTES + 1)}:{HASH}",  # in every payment item: bounded
            f"entry 1 of 1 has a merchant id that is {MERCHANT_ID_MAX_BYTES + 1} bytes long: at "
            f"most {MERCHANT_ID_MAX_BYTES} (before the colon)",
        ),
    ],
)
def test_each_bad_key_entry_is_named(setting: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"PAYSYS_API_KEYS: {message}")) as caught:
        ApiKeys.parse(setting)
    assert KEY not in str(caught.value)  # a pasted key never reaches a log line


def test_hashes_are_trimmed_and_case_insensitive() -> None:
    other = hash_key("another")
    keys = ApiKeys.parse(f" {HASH.upper()} ,{other}")
    assert keys.hashes == (HASH, other)
    assert keys.identify(KEY) == Caller(HASH[:12], DEFAULT_MERCHANT)
    assert not ApiKeys.parse(None).enabled


def test_an_entry_names_its_merchant() -> None:
    other_key, entry = new_key("acme")
    assert entry == f"acme:{hash_key(other_key)}"
    keys = ApiKeys.parse(f"{HASH},{entry}")
    assert keys.identify(other_key) == Caller(hash_key(other_key)[:12], "acme")
    assert keys.identify(KEY) == Caller(HASH[:12], DEFAULT_MERCHANT)


def test_auth_setting_parses() -> None:
    assert Settings.from_env({"PAYSYS_AUTH": "Open"}).auth == "open"
    assert Settings.from_env({}).auth is None
    with pytest.raises(ConfigError, match="expected one of required, open"):
        Settings.from_env({"PAYSYS_AUTH": "off"})


def test_unset_auth_is_required_outside_the_embedded_mode() -> None:
    with pytest.raises(ConfigError, match="PAYSYS_AUTH is unset \\(= required\\) but"):
        decide_auth(Settings(), embedded=False)
    with pytest.raises(ConfigError, match="PAYSYS_AUTH=required but PAYSYS_API_KEYS has no key"):
        decide_auth(Settings(auth="required"), embedded=True)
    assert decide_auth(Settings(api_keys=HASH), embedded=False)[0] == "required"
    with pytest.raises(ConfigError, match="raw key"):  # checked even where auth is open
        decide_auth(Settings(auth="open", api_keys=KEY), embedded=False)


def test_paysys_local_stays_open_and_says_why() -> None:
    mode, why = decide_auth(Settings(), embedded=True)
    assert mode == "open"
    assert "`paysys local` is open unless PAYSYS_AUTH=required" in why
    mode, why = decide_auth(Settings(auth="open", api_keys=HASH), embedded=False)
    assert mode == "open"
    assert "PAYSYS_API_KEYS is set but ignored" in why


def _api_process(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PAYSYS_")}
    return subprocess.run(
        [sys.executable, "-m", "paysys", "--role", "api"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_api_refuses_to_start_without_a_key() -> None:
    result = _api_process({})
    assert result.returncode == 2
    assert result.stderr.startswith("paysys: PAYSYS_AUTH is unset (= required) but PAYSYS_API_KEYS")
    assert result.stderr.count("\n") == 1


def test_the_api_refuses_a_raw_key_without_echoing_it() -> None:
    result = _api_process({"PAYSYS_AUTH": "required", "PAYSYS_API_KEYS": KEY})
    assert result.returncode == 2
    assert result.stderr == f"paysys: PAYSYS_API_KEYS: entry 1 of 1 {RAW_KEY_HINT}\n"


async def test_open_means_no_check_even_with_keys(settings: Settings, resources: Resources) -> None:
    for auth, expected in (("open", 200), (None, 401), ("required", 401)):
        app = make_app(settings, resources, auth=auth, api_keys=HASH)
        async with serving(app) as client:
            assert (await client.get("/stats")).status == expected, auth


async def test_a_merchant_sees_its_counts_not_the_platforms_queues(
    keyed_api: KeyedApi, api: TestClient[Any, Any], resources: Resources
) -> None:
    """With API keys, /stats is the caller's own counts: the payment-created queue and the
    DLQ are the platform's (operators read them on /metrics). An open API (`paysys local`,
    one user: the operator) shows them too."""
    created = await keyed_api.client.post("/payments", json={"amount": "1.00", "currency": "BRL"})
    assert created.status == 202
    await settle_counts(resources)
    stats = await (await keyed_api.client.get("/stats")).json()
    assert set(stats) == {"merchant_id", "payments"}
    assert stats["merchant_id"] == "alice"
    assert stats["payments"]["Pending"] + stats["payments"]["Approved"] == 1
    operator = await (await api.get("/stats")).json()
    assert {"queue", "dlq", "platform"} <= set(operator)
