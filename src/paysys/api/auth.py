"""API keys: only SHA-256 hashes are configured; keys are compared in constant time.

``paysys keygen`` prints a new key and the hash to put in ``PAYSYS_API_KEYS``. Whether the API
checks keys at all is ``PAYSYS_AUTH`` (:func:`decide_auth`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from paysys.config import AuthMode, Settings
from paysys.core.domain import DEFAULT_MERCHANT, merchant_id_problem
from paysys.errors import ConfigError

KEY_PREFIX = "psk_"
_HASH = re.compile(r"[0-9a-fA-F]{64}")
_HEX = re.compile(r"[0-9a-fA-F]+")
# What a bearer token usually looks like (urlsafe base64 and friends), hex aside.
_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]{16,}")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(merchant_id: str | None = None) -> tuple[str, str]:
    """A new key and its ``PAYSYS_API_KEYS`` entry (``<merchant>:<hash>``, or the bare hash
    for the default merchant)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    digest = hash_key(key)
    return key, f"{merchant_id}:{digest}" if merchant_id else digest


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a valid key belongs to: its id (a prefix of its hash, safe to log) and merchant."""

    key_id: str
    merchant_id: str


@dataclass(frozen=True, slots=True)
class ApiKeys:
    """``PAYSYS_API_KEYS`` entries are ``<merchant>:<sha256 hex>`` (as ``paysys keygen
    --merchant NAME`` prints them); a bare hash belongs to the default merchant."""

    entries: tuple[tuple[str, str], ...]  # (merchant id, hash)

    @property
    def hashes(self) -> tuple[str, ...]:
        return tuple(digest for _, digest in self.entries)

    @classmethod
    def parse(cls, setting: str | None) -> ApiKeys:
        """The hashes of ``PAYSYS_API_KEYS``; ``ConfigError`` naming each bad entry (by its
        position: an entry may be a raw key, which must not reach a log)."""
        if setting is None:
            return cls(())
        entries = [_split(entry.strip()) for entry in setting.split(",")]
        problems = [
            f"entry {number} of {len(entries)} {problem}"
            for number, (merchant, digest) in enumerate(entries, 1)
            if (problem := _merchant_problem(merchant) or _entry_problem(digest))
        ]
        first: dict[str, tuple[int, str]] = {}  # hash -> (position, merchant) of its first entry
        for number, (merchant, digest) in enumerate(entries, 1):
            seen = first.setdefault(digest.lower(), (number, merchant))
            if seen[1] != merchant:  # one key cannot be two merchants' (the last would win)
                problems.append(
                    f"entry {number} of {len(entries)} has the key of entry {seen[0]} "
                    "under another merchant"
                )
        if problems:
            raise ConfigError(f"PAYSYS_API_KEYS: {'; '.join(problems)}")
        return cls(tuple((merchant, digest.lower()) for merchant, digest in entries))

    @property
    def enabled(self) -> bool:
        return bool(self.hashes)

    def identify(self, presented: str) -> Caller | None:
        """Who the key belongs to if it is valid, else None. Every configured hash is
        compared, in constant time, whatever matches."""
        digest = hash_key(presented)
        found = None
        for merchant, known in self.entries:
            if hmac.compare_digest(digest, known):
                found = Caller(known[:12], merchant)
        return found


def _split(entry: str) -> tuple[str, str]:
    merchant, colon, digest = entry.rpartition(":")
    return (merchant, digest) if colon else (DEFAULT_MERCHANT, entry)


def _merchant_problem(merchant: str) -> str | None:
    """A merchant id is stored in every payment and index key: its length is bounded
    (``paysys.core.limits``), so an over-long one stops the API at start."""
    problem = merchant_id_problem(merchant)
    return None if problem is None else f"has a merchant id that {problem} (before the colon)"


def _entry_problem(entry: str) -> str | None:
    if _HASH.fullmatch(entry):
        return None
    if not entry:
        return "is empty (a stray comma?)"
    if _HEX.fullmatch(entry):
        return f"has {len(entry)} hex digits: a SHA-256 hash has 64"
    if len(entry) == 64:
        return "has 64 characters but not only hex digits (0-9, a-f)"
    if entry.startswith(KEY_PREFIX) or _TOKEN.fullmatch(entry):
        return "looks like a raw key: configure its SHA-256 hash, see `paysys keygen`"
    return "is not a SHA-256 hash (64 hex digits, as `paysys keygen` prints)"


def enforced_keys(settings: Settings) -> ApiKeys:
    """The keys the API checks: none when ``PAYSYS_AUTH=open``, else every configured one
    (an app built without a decided mode, as in tests, checks keys when any are set)."""
    return ApiKeys(()) if settings.auth == "open" else ApiKeys.parse(settings.api_keys)


def decide_auth(settings: Settings, *, embedded: bool) -> tuple[AuthMode, str]:
    """``PAYSYS_AUTH`` for this start, and why. Unset means ``open`` in the embedded mode
    (``paysys local``) and ``required`` everywhere else. Every key entry is validated even when
    open; ``ConfigError`` when keys are required and none is configured."""
    keys = ApiKeys.parse(settings.api_keys)
    ignored = " (PAYSYS_API_KEYS is set but ignored)" if keys.enabled else ""
    if settings.auth == "open":
        return "open", f"PAYSYS_AUTH=open: anyone can create payments{ignored}"
    if settings.auth is None and embedded:
        return "open", (
            "`paysys local` is open unless PAYSYS_AUTH=required: anyone who reaches "
            f"{settings.api_host}:{settings.api_port} can create payments{ignored}"
        )
    if not keys.enabled:
        how = "PAYSYS_AUTH=required" if settings.auth else "PAYSYS_AUTH is unset (= required)"
        raise ConfigError(
            f"{how} but PAYSYS_API_KEYS has no key: add a hash from `paysys keygen`, or set "
            "PAYSYS_AUTH=open to run without authentication"
        )
    return "required", f"{len(keys.hashes)} API key(s) configured"
