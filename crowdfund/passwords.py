"""The rules every new password follows: long enough and not one of the 10,000 most common (ASVS 6.2)."""
from functools import lru_cache
from pathlib import Path

from flask_babel import lazy_gettext as _l

COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "common-passwords.txt"
MIN_LENGTH = 8
MAX_LENGTH = 128
TOO_COMMON = _l("This password is one of the most commonly used and easy to guess. Choose another.")


@lru_cache(maxsize=1)
def common_passwords():
    """The list shipped in crowdfund/data (lower-cased, one a line, "#" lines are comments)."""
    with COMMON_PASSWORDS_FILE.open(encoding="utf-8") as lines:
        return frozenset(line.rstrip("\n") for line in lines if line.strip() and not line.startswith("#"))


def is_common(password):
    """Whether the password, ignoring case and surrounding space, is on the common-passwords list."""
    return password.strip().lower() in common_passwords()


def problem(password):
    """Why this password may not be used, or None (the reason is a lazy string, safe to show)."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return _l("Use %(min)d to %(max)d characters.", min=MIN_LENGTH, max=MAX_LENGTH)
    if is_common(password):
        return TOO_COMMON
    return None
