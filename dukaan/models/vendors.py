"""Vendors: the merchants, each with one store."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship, synonym

from ..extensions import db
from .common import utcnow

if TYPE_CHECKING:
    from .catalogue import Product


class Vendor(UserMixin, db.Model):
    """A merchant. The username they sign up with is their store's slug (``/order/<slug>``):
    one value, stored as ``username``; code about the store says ``slug``."""

    __tablename__ = "vendors"
    __table_args__ = (CheckConstraint("username = lower(username)", name="username_lowercase"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(30), unique=True)
    store_name: Mapped[str] = mapped_column(String(80))
    password_hash: Mapped[str] = mapped_column(String(255))
    # Where the vendor is told of new orders; optional.
    email: Mapped[str | None] = mapped_column(String(254))
    # Incrementing it also serialises one vendor's order placements (see orders.place).
    last_order_number: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    slug = synonym("username")
    # The token of the session this object was loaded for (accounts.session_vendor).
    session_token = None

    products: Mapped[list[Product]] = relationship(
        back_populates="vendor", passive_deletes=True, order_by="Product.id"
    )

    def get_id(self) -> str | None:
        """Flask-Login's key for this login: the session's token, not the vendor's id, so
        that one login can be ended on its own."""
        return self.session_token


class VendorSession(db.Model):
    """One logged-in browser of a vendor. The cookie carries the token; only its hash is
    stored, and deleting the row logs that browser out (see ``accounts``)."""

    __tablename__ = "vendor_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    vendor: Mapped[Vendor] = relationship()
