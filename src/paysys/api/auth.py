"""API keys: only SHA-256 hashes are configured; keys are compared in constant time.

``paysys keygen`` prints a new key and the hash to put in ``PAYSYS_API_KEYS``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_PREFIX = "psk_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, hash_key(key)


@dataclass(frozen=True, slots=True)
class ApiKeys:
    hashes: tuple[str, ...]

    @classmethod
    def parse(cls, setting: str | None) -> ApiKeys:
        return cls(tuple(h.strip().lower() for h in (setting or "").split(",") if h.strip()))

    @property
    def enabled(self) -> bool:
        return bool(self.hashes)

    def identify(self, presented: str) -> str | None:
        """The key's id (a short prefix of its hash) if it is valid, else None. Every
        configured hash is compared, in constant time, whatever matches."""
        digest = hash_key(presented)
        found = None
        for known in self.hashes:
            if hmac.compare_digest(digest, known):
                found = known[:12]
        return found
