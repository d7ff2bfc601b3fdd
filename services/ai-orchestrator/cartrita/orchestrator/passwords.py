"""Password hashing: scrypt from the standard library.

Stored as ``scrypt$16384$8$1$<salt base64>$<key base64>`` (16-byte salt,
32-byte key; SCHEMA.md, ``users.password_hash``). :func:`verify` compares in
constant time and reads the cost from the stored string, so the cost can be
raised later without breaking existing hashes; :func:`verify_dummy` spends
the same time for a user that does not exist, so a login's answer time does
not tell which usernames exist.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from functools import lru_cache

from .models import check_text

N, R, P = 16384, 8, 1
SALT_BYTES = 16
KEY_BYTES = 32
MIN_LENGTH = 12
#: scrypt reads all of it; a bound keeps one login from being an expensive request
MAX_LENGTH = 1024
SCHEME = "scrypt"

#: a stored cost above these is refused rather than computed (a tampered row must not stall the server)
_MAX_MEMORY, _MAX_P, _MAX_KEY = 128 << 20, 16, 64


class PasswordError(ValueError):
    """The password is not acceptable; the message says why (never the password)."""


def check_password(password: str, what: str = "the password") -> str:
    if len(password) < MIN_LENGTH:
        raise PasswordError(f"{what} is too short ({len(password)} characters, at least {MIN_LENGTH} required)")
    if len(password) > MAX_LENGTH:
        raise PasswordError(f"{what} is too long (at most {MAX_LENGTH} characters)")
    try:
        return check_text(password, what)
    except ValueError as exc:
        raise PasswordError(str(exc)) from None


def _derive(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    # maxmem: scrypt needs 128 * r * n bytes (16 MiB here) and a little more; OpenSSL's default cap is 32 MiB
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length,
                          maxmem=2 * 128 * r * n + (1 << 20))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """A new salted hash of a password that passed :func:`check_password`."""
    check_password(password)
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, N, R, P, KEY_BYTES)
    return f"{SCHEME}${N}${R}${P}${_b64(salt)}${_b64(key)}"


def _parse(stored: str):
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        key = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        return None
    if not (1 < n and n & (n - 1) == 0 and 0 < r and 128 * n * r <= _MAX_MEMORY and 0 < p <= _MAX_P):
        return None
    if not salt or not 0 < len(key) <= _MAX_KEY:
        return None
    return n, r, p, salt, key


def verify(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; False for any unreadable hash or unencodable password."""
    parsed = _parse(stored)
    if parsed is None:
        verify_dummy()  # same time as a real check
        return False
    n, r, p, salt, key = parsed
    try:
        candidate = _derive(password, salt, n, r, p, len(key))
    except UnicodeEncodeError:
        candidate = b""
    return hmac.compare_digest(candidate, key)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(24))


def verify_dummy() -> None:
    """The work of one :func:`verify` against nothing: for unknown users."""
    _n, _r, _p, salt, key = _parse(_dummy_hash())
    hmac.compare_digest(_derive("not the password", salt, N, R, P, len(key)), key)
