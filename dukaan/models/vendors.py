"""Vendors: the merchants, each with one store."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, DateTime, ForeignKey, String, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship, synonym

from ..extensions import db
from .common import Money, utcnow

if TYPE_CHECKING:
    from .catalogue import Product


class Vendor(UserMixin, db.Model):
    """A merchant. The username they sign up with is their store's slug (``/order/<slug>``):
    one value, stored as ``username``; code about the store says ``slug``."""

    __tablename__ = "vendors"
    __table_args__ = (
        CheckConstraint("username = lower(username)", name="username_lowercase"),
        # Store settings (see store_settings and pricing).
        CheckConstraint("accept_cod OR accept_upi", name="a_payment_method"),
        CheckConstraint("NOT accept_upi OR upi_id IS NOT NULL", name="upi_needs_upi_id"),
        CheckConstraint("whatsapp IS NULL OR (whatsapp LIKE '+91%' AND length(whatsapp) = 13)",
                        name="whatsapp_e164"),
        *(CheckConstraint(f"{column} IS NULL OR {column} >= 0", name=f"{column}_not_negative")
          for column in ("delivery_fee", "free_delivery_from", "min_order", "cod_fee")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(30), unique=True)
    store_name: Mapped[str] = mapped_column(String(80))
    password_hash: Mapped[str] = mapped_column(String(255))
    # Where the vendor is told of new orders; optional.
    email: Mapped[str | None] = mapped_column(String(254))
    # Whether that email also gets a summary of each day that had orders.
    daily_summary: Mapped[bool] = mapped_column(default=True, server_default=true())
    # The store's settings. WhatsApp in E.164 (+919876543210); money None means "none".
    whatsapp: Mapped[str | None] = mapped_column(String(16))
    upi_id: Mapped[str | None] = mapped_column(String(100))
    accept_cod: Mapped[bool] = mapped_column(default=True, server_default=true())
    accept_upi: Mapped[bool] = mapped_column(default=False, server_default=false())
    delivery_fee: Mapped[Decimal | None] = mapped_column(Money)
    free_delivery_from: Mapped[Decimal | None] = mapped_column(Money)
    min_order: Mapped[Decimal | None] = mapped_column(Money)
    cod_fee: Mapped[Decimal | None] = mapped_column(Money)
    # A closed store keeps its link and shows its page, but takes no orders.
    open: Mapped[bool] = mapped_column(default=True, server_default=true())
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
