"""Customers with an account (the mobile apps' users), the API tokens they log in with, and
their claims on the orders they place (an Idempotency-Key each)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .common import utcnow


class Customer(db.Model):
    """Someone who orders through the API. Not a vendor: the two have separate usernames.
    Customers of the store page need no account at all."""

    __tablename__ = "customers"
    __table_args__ = (CheckConstraint("username = lower(username)", name="username_lowercase"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(30), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiToken(db.Model):
    """One logged-in app of a customer. The app holds the token; only its hash is stored.
    It ends when unused for ``API_TOKEN_IDLE``, at ``expires_at`` in any case, or when
    revoked (the row is deleted: logging out, a password change)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

    customer: Mapped[Customer] = relationship()


class OrderClaim(db.Model):
    """A customer's ``Idempotency-Key`` on ``POST /api/v1/orders``: the body it first came with
    (as a hash), and the order once it is placed. While ``order_id`` is null a request is
    placing the order; one that began at ``claimed_at`` and has not finished a lease later is
    presumed dead and a retry takes the claim over. Kept with the order: it is also how the
    customer's order history finds the orders they placed."""

    __tablename__ = "api_order_claims"
    __table_args__ = (UniqueConstraint("customer_id", "key_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # SHA-256 of the key and of the body (canonical JSON), hex: the key may be long.
    key_hash: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # When the request now placing the order began (moved on when a retry takes over).
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
