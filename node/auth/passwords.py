"""Password policy and hashing.

Passwords are normalised to NFC before hashing and checking, so a Vietnamese
password typed with a decomposing input method still matches.
"""

from __future__ import annotations

from functools import cache

from werkzeug.security import check_password_hash, generate_password_hash

from node.core.i18n import _
from node.core.text import nfc

PASSWORD_MIN_LENGTH = 10
# Bounds the work of hashing one request's input.
PASSWORD_MAX_LENGTH = 1024
# Werkzeug 3.1's scrypt with its defaults (N=2**15, r=8, p=1). Stored hashes name
# their method and parameters, so changing this keeps old hashes verifiable.
PASSWORD_HASH_METHOD = "scrypt"


def password_problems(password: str, username: str | None = None) -> list[str]:
    """Return what is wrong with `password` under the policy, or [] when it is acceptable."""
    password = nfc(password)
    problems: list[str] = []
    if len(password) < PASSWORD_MIN_LENGTH:
        problems.append(_("The password must have at least %(count)d characters.",
                          count=PASSWORD_MIN_LENGTH))
    if len(password) > PASSWORD_MAX_LENGTH:
        problems.append(_("The password must have at most %(count)d characters.",
                          count=PASSWORD_MAX_LENGTH))
    if not password.strip():
        problems.append(_("The password must not consist of spaces only."))
    if username and password.casefold() == nfc(username).casefold():
        problems.append(_("The password must differ from the username."))
    return problems


def hash_password(password: str) -> str:
    """Hash `password` for storage. The result names its method, salt and parameters."""
    return generate_password_hash(nfc(password), method=PASSWORD_HASH_METHOD)


def verify_password(password_hash: str, password: str) -> bool:
    """Check `password` against a stored hash in constant time."""
    return check_password_hash(password_hash, nfc(password))


@cache
def _placeholder_hash() -> str:
    return hash_password("placeholder password of no account")


def spend_verification_time(password: str) -> None:
    """Hash `password` against a placeholder, so unknown usernames take as long as known ones."""
    verify_password(_placeholder_hash(), password)
