"""Vendor accounts: usernames (store slugs), passwords, and the sessions a login opens."""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata

from flask import current_app
from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from .extensions import db
from .models import Vendor, VendorSession, aware, utcnow
from .models.prepared import prepared

USERNAME_RE = re.compile(r"[a-z0-9-]{3,30}")
USERNAME_RULE = "3–30 characters: lowercase letters, digits and hyphens"
MIN_PASSWORD = 8
MAX_PASSWORD = 200
PASSWORD_RULE = f"At least {MIN_PASSWORD} characters; not a common password, not your username."
# The 30,000 most used passwords, as zxcvbn ships them (lowercase).
COMMON_PASSWORDS = frozenset(FREQUENCY_LISTS["passwords"])
# One @, something on each side, a dot in the domain, no spaces or control
# characters (PostgreSQL cannot store NUL): the mail server judges the rest.
EMAIL_RE = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s.\x00-\x1f\x7f]+")
MAX_EMAIL = 254


class AccountError(ValueError):
    """The account cannot be created; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


def normalise_username(username: str) -> str:
    return (username or "").strip().lower()


def username_problem(username: str) -> str | None:
    """Why ``username`` (already normalised) cannot be a store slug, or None."""
    if not USERNAME_RE.fullmatch(username):
        return f"Use {USERNAME_RULE}."
    return None


def email_problem(email: str) -> str | None:
    """Why ``email`` (already stripped) cannot be a vendor's or a customer's address, or None."""
    if len(email) > MAX_EMAIL or not EMAIL_RE.fullmatch(email):
        return "Give an email address such as asha@example.com, or leave it empty."
    return None


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def create_vendor(username: str, store_name: str, password: str, email: str | None = None) -> Vendor:
    """Create and commit a vendor; ``email`` (optional) is where new orders are announced.

    Raises ``AccountError`` for a malformed or taken username, an empty store
    name, a short password or a malformed email.
    """
    username = normalise_username(username)
    store_name = (store_name or "").strip()
    email = (email or "").strip() or None
    if email is not None and (problem := email_problem(email)):
        raise AccountError("email", problem)
    if problem := username_problem(username):
        raise AccountError("username", problem)
    if not store_name or len(store_name) > 80:
        raise AccountError("store_name", "Give the store a name of 1–80 characters.")
    if problem := password_problem(password, username):
        raise AccountError("password", problem)
    if find(username) is not None:
        raise AccountError("username", "That username is taken.")
    vendor = Vendor(username=username, store_name=store_name, password_hash=hash_password(password), email=email)
    db.session.add(vendor)
    try:
        db.session.commit()
    except IntegrityError:  # someone took it between our check and our insert
        db.session.rollback()
        raise AccountError("username", "That username is taken.") from None
    return vendor


# Built once: every request to a store asks it (inventory says why).
_BY_USERNAME = prepared(select(Vendor).where(Vendor.username == bindparam("username")))


def find(username: str, session=None) -> Vendor | None:
    """The vendor (the store) named ``username``, read on ``session`` (the app's by default)."""
    return (session or db.session).scalar(_BY_USERNAME, {"username": normalise_username(username)})


def authenticate(username: str, password: str) -> Vendor | None:
    """The vendor these credentials belong to, or None.

    An unknown username costs the same hashing time as a wrong password, so the
    response time does not tell which usernames exist.
    """
    vendor = find(username)
    if vendor is None:
        check_password_hash(_dummy_hash(), password or "")
        return None
    if not check_password_hash(vendor.password_hash, password or ""):
        return None
    return vendor


def check_password(password_hash: str | None, password: str) -> bool:
    """Does ``password`` match ``password_hash``? With no hash (no such account) it is
    False after the same hashing time as a wrong password."""
    if password_hash is None:
        check_password_hash(_dummy_hash(), password or "")
        return False
    return check_password_hash(password_hash, password or "")


def _dummy_hash() -> str:
    config = current_app.config
    if "_DUMMY_PASSWORD_HASH" not in config:
        config["_DUMMY_PASSWORD_HASH"] = hash_password("not-a-real-password")
    return config["_DUMMY_PASSWORD_HASH"]


# --- passwords ---------------------------------------------------------------


def normalise_password(password: str) -> str:
    """NFKC, as NIST SP 800-63B asks, without the invisible format characters (zero-width
    spaces and joiners) that would otherwise pad a short password."""
    text = unicodedata.normalize("NFKC", password or "")
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def password_problem(password: str, username: str = "") -> str | None:
    """Why ``password`` may not be used by ``username``, or None (NIST SP 800-63B:
    a length, a block list and no composition rules)."""
    text = normalise_password(password)
    if len(text) < MIN_PASSWORD or not text.strip():
        return f"Use at least {MIN_PASSWORD} characters. Spaces alone do not count."
    if len(text) > MAX_PASSWORD:
        return f"Use at most {MAX_PASSWORD} characters."
    folded = text.casefold()
    name = normalise_username(username)
    if name and folded.strip() == name:
        return "Do not use your username as your password."
    if folded in COMMON_PASSWORDS or folded.strip() in COMMON_PASSWORDS:
        return "That is one of the most common passwords: choose one nobody would guess."
    return None


def change_password(vendor: Vendor, current: str, new: str) -> None:
    """Set ``vendor``'s password and end every session of theirs.

    Raises ``AccountError`` for a wrong current password or a new one the
    rules refuse.
    """
    if not check_password_hash(vendor.password_hash, current or ""):
        raise AccountError("current_password", "That is not your current password.")
    if problem := password_problem(new, vendor.username):
        raise AccountError("new_password", problem)
    vendor.password_hash = hash_password(new)
    _end_sessions(VendorSession.vendor_id == vendor.id)


# --- sessions ------------------------------------------------------------------
# A login is a row in vendor_sessions; the browser's signed cookie carries its
# token (Flask-Login's user id is the token, see Vendor.get_id). Deleting the
# row ends the login at once, wherever the cookie has been copied to.


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(vendor: Vendor) -> str:
    """Open a session for ``vendor`` (committed); its token, for the cookie."""
    token = secrets.token_urlsafe(32)
    db.session.add(VendorSession(vendor_id=vendor.id, token_hash=_token_hash(token)))
    db.session.commit()
    vendor.session_token = token
    return token


def session_vendor(token: str) -> Vendor | None:
    """The vendor whose live session ``token`` is, or None (unknown, ended, idle too
    long or past its absolute lifetime: an expired row is deleted)."""
    found = db.session.execute(
        select(VendorSession, Vendor)
        .join(Vendor, Vendor.id == VendorSession.vendor_id)
        .where(VendorSession.token_hash == _token_hash(token or ""))
    ).one_or_none()
    if found is None:
        return None
    login, vendor = found
    config, now = current_app.config, utcnow()
    idle, age = now - aware(login.last_seen_at), now - aware(login.created_at)
    if idle > config["VENDOR_SESSION_IDLE"] or age > config["VENDOR_SESSION_MAX"]:
        db.session.delete(login)
        db.session.commit()
        return None
    # A write per request would cost every dashboard click; a few minutes' slack is enough.
    if idle > config["VENDOR_SESSION_TOUCH"]:
        login.last_seen_at = now
        db.session.commit()
    vendor.session_token = token
    return vendor


def end_session(token: str) -> None:
    _end_sessions(VendorSession.token_hash == _token_hash(token or ""))


def end_all_sessions(vendor: Vendor) -> None:
    _end_sessions(VendorSession.vendor_id == vendor.id)


def _end_sessions(condition) -> None:
    db.session.execute(delete(VendorSession).where(condition))
    db.session.commit()

