"""Vendor accounts: the rules for usernames (store slugs) and passwords."""

from __future__ import annotations

import re

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db
from .models import Vendor

USERNAME_RE = re.compile(r"[a-z0-9-]{3,30}")
USERNAME_RULE = "3–30 characters: lowercase letters, digits and hyphens"
MIN_PASSWORD = 8
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
    """Why ``email`` (already stripped) cannot be a vendor's address, or None."""
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
    if len(password or "") < MIN_PASSWORD:
        raise AccountError("password", f"Use at least {MIN_PASSWORD} characters.")
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


def find(username: str) -> Vendor | None:
    return db.session.scalar(select(Vendor).where(Vendor.username == normalise_username(username)))


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


def _dummy_hash() -> str:
    config = current_app.config
    if "_DUMMY_PASSWORD_HASH" not in config:
        config["_DUMMY_PASSWORD_HASH"] = hash_password("not-a-real-password")
    return config["_DUMMY_PASSWORD_HASH"]
