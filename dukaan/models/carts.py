"""Carts: the units a customer holds at one store while choosing."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .common import VendorOwned, utcnow

if TYPE_CHECKING:
    from .catalogue import Product


class Cart(VendorOwned, db.Model):
    """One visitor's cart at one store. Its lines hold stock until ``expires_at``, which
    moves on with every change (``CART_HOLD_MINUTES``); the cookie carries ``token``."""

    __tablename__ = "carts"

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="CASCADE"), index=True)
    token: Mapped[str] = mapped_column(String(43), unique=True)
    # The customer whose cart it is, for a cart made through the API; None: the store
    # page's cookie is all that holds it.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

    lines: Mapped[list[CartLine]] = relationship(
        back_populates="cart", cascade="all, delete-orphan", order_by="CartLine.product_id"
    )
    # Not stored: what this request's change saw of its product once locked, {product id:
    # (its row, how many of it the cart may have)}, so the cart shown right after needs no
    # second read of it (dukaan.carts.set_quantity and view).
    seen = None


class CartLine(db.Model):
    """Units of one product held in a cart."""

    __tablename__ = "cart_lines"
    __table_args__ = (
        UniqueConstraint("cart_id", "product_id"),
        # 0 only for a line the vendor's stock cut to nothing (see cut_from).
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # What the customer had asked for before the vendor cut the stock below the holds
    # (inventory.set_stock): the cart says so until the customer changes the line.
    cut_from: Mapped[int | None] = mapped_column(Integer)

    cart: Mapped[Cart] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()
