"""Customer accounts for the API: registering, passwords, and the tokens apps log in with.

Passwords follow the vendors' rules and hashing (``accounts``). A token is
random, handed to the app once and stored only as a hash; it ends when unused
for ``API_TOKEN_IDLE``, at its ``expires_at`` (``API_TOKEN_MAX`` after it was
issued) in any case, or when revoked. Revoking deletes the row, so a revoked
or expired token is simply unknown.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from . import accounts
from .accounts import AccountError
from .extensions import db
from .models import ApiToken, Customer, aware, utcnow

__all__ = ["AccountError", "Issued", "authenticate", "change_password", "find", "issue_token", "register",
           "revoke", "revoke_all", "token_customer"]


@dataclass(frozen=True)
class Issued:
    """A token as the app receives it: the only time it is seen in full."""

    token: str
    expires_at: datetime


def register(username: str, password: str, name: str, phone: str, email: str | None = None) -> Customer:
    """Create and commit a customer. ``name`` and ``phone`` arrive checked (the API's schema).

    Raises ``AccountError`` for a malformed or taken username, a password the
    rules refuse or a malformed email.
    """
    username = accounts.normalise_username(username)
    email = (email or "").strip() or None
    if problem := accounts.username_problem(username):
        raise AccountError("username", problem)
    if problem := accounts.password_problem(password, username):
        raise AccountError("password", problem)
    if email is not None and (problem := accounts.email_problem(email)):
        raise AccountError("email", problem)
    if find(username) is not None:
        raise AccountError("username", "That username is taken.")
    customer = Customer(username=username, password_hash=accounts.hash_password(password),
                        name=name, phone=phone, email=email)
    db.session.add(customer)
    try:
        db.session.commit()
    except IntegrityError:  # someone took it between our check and our insert
        db.session.rollback()
        raise AccountError("username", "That username is taken.") from None
    return customer


def find(username: str) -> Customer | None:
    name = accounts.normalise_username(username)
    if accounts.username_problem(name):
        return None
    return db.session.scalar(select(Customer).where(Customer.username == name))


def authenticate(username: str, password: str) -> Customer | None:
    """The customer these credentials belong to, or None (in the same time either way)."""
    customer = find(username)
    if not accounts.check_password(customer.password_hash if customer else None, password):
        return None
    return customer


def change_password(customer: Customer, current: str, new: str) -> Issued:
    """Set ``customer``'s password, revoke every token of theirs, and issue the caller a new one.

    Raises ``AccountError`` for a wrong current password or a new one the rules refuse.
    """
    if not accounts.check_password(customer.password_hash, current):
        raise AccountError("current_password", "That is not your current password.")
    if problem := accounts.password_problem(new, customer.username):
        raise AccountError("new_password", problem)
    customer.password_hash = accounts.hash_password(new)
    db.session.execute(delete(ApiToken).where(ApiToken.customer_id == customer.id))
    return issue_token(customer)


# --- tokens --------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(customer: Customer) -> Issued:
    """A new token for ``customer`` (committed)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    expires_at = now + current_app.config["API_TOKEN_MAX"]
    db.session.add(ApiToken(customer_id=customer.id, token_hash=_hash(token), created_at=now,
                            last_seen_at=now, expires_at=expires_at))
    db.session.commit()
    return Issued(token, expires_at)


def token_customer(token: str) -> tuple[Customer, ApiToken] | None:
    """The customer whose live token ``token`` is, with the token's row; None if it is
    unknown, revoked, idle too long or past its expiry (an expired row is deleted)."""
    if not token or len(token) > 100:
        return None
    found = db.session.execute(
        select(ApiToken, Customer).join(Customer, Customer.id == ApiToken.customer_id)
        .where(ApiToken.token_hash == _hash(token))
    ).one_or_none()
    if found is None:
        return None
    row, customer = found
    config, now = current_app.config, utcnow()
    if now - aware(row.last_seen_at) > config["API_TOKEN_IDLE"] or now >= aware(row.expires_at):
        db.session.delete(row)
        db.session.commit()
        return None
    # A write per request would cost every call; a few minutes' slack is enough.
    if now - aware(row.last_seen_at) > config["API_TOKEN_TOUCH"]:
        row.last_seen_at = now
        db.session.commit()
    return customer, row


def revoke(row: ApiToken) -> None:
    """End one token at once (logging out)."""
    db.session.execute(delete(ApiToken).where(ApiToken.id == row.id))
    db.session.commit()


def revoke_all(customer: Customer) -> None:
    db.session.execute(delete(ApiToken).where(ApiToken.customer_id == customer.id))
    db.session.commit()
