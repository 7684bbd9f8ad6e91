"""Passwords the emulator keeps: only as salted slow hashes, never as the password itself.

A password set through the administration API is kept (in memory and in a ``--db`` file) as an
scrypt hash with a random salt per user, so the file does not hand out anyone's password to
whoever reads it. Passwords of the users file and ``SSS_ADMIN_PASSWORD`` are compared as given
(the user wrote them down there) and never written anywhere by the emulator.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ("check_password", "hash_password")

_SCHEME = "scrypt"
#: scrypt's cost: 16 MiB and about 50 ms a hash, as OWASP recommends for interactive logins.
_N, _R, _P = 2**14, 8, 1
_SALT_BYTES = 16
_KEY_BYTES = 32


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=_KEY_BYTES,
                          maxmem=256 * r * n + 1024 * 1024)


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$key`` (hex) of ``password`` with a fresh random salt."""
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _derive(password, salt, _N, _R, _P)
    return f"{_SCHEME}${_N}${_R}${_P}${salt.hex()}${key.hex()}"


def check_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` is the one ``stored`` (a :func:`hash_password` value) was made of;
    False for no hash or one this module did not write. Compared in constant time."""
    parts = (stored or "").split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        # hash anyway, so an unknown user takes as long as a wrong password
        _derive(password, b"\0" * _SALT_BYTES, _N, _R, _P)
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, key = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
    except ValueError:
        return False
    if not (1 < n <= 2**20 and 0 < r <= 32 and 0 < p <= 16):  # a tampered file cannot stall us
        return False
    return hmac.compare_digest(_derive(password, salt, n, r, p), key)
