"""The shop's data: vendors, their products, and the orders customers place."""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from decimal import Decimal

from flask_login import UserMixin
from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db

Money = Numeric(10, 2)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Vendor(UserMixin, db.Model):
    """A merchant; ``username`` is also the store slug in ``/order/<slug>``."""

    __tablename__ = "vendors"
    __table_args__ = (CheckConstraint("username = lower(username)", name="username_lowercase"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(30), unique=True)
    store_name: Mapped[str] = mapped_column(String(80))
    password_hash: Mapped[str] = mapped_column(String(255))
    # The last per-vendor order number handed out; incrementing it also
    # serialises one vendor's order placements (see orders.place).
    last_order_number: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    products: Mapped[list[Product]] = relationship(
        back_populates="vendor", passive_deletes=True, order_by="Product.id"
    )

    @property
    def slug(self) -> str:
        return self.username


class Product(db.Model):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("mrp IS NULL OR mrp >= price", name="mrp_at_least_price"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    price: Mapped[Decimal] = mapped_column(Money)
    mrp: Mapped[Decimal | None] = mapped_column(Money)
    stock: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    available: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    vendor: Mapped[Vendor] = relationship(back_populates="products")

    @property
    def in_stock(self) -> bool:
        return self.stock > 0

    @property
    def discounted(self) -> bool:
        return self.mrp is not None and self.mrp > self.price


class OrderStatus(enum.StrEnum):
    PLACED = "placed"
    CONFIRMED = "confirmed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class Order(db.Model):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("vendor_id", "number"),
        UniqueConstraint("vendor_id", "token"),
        CheckConstraint(
            "status IN ('placed', 'confirmed', 'shipped', 'delivered', 'cancelled')",
            name="status_known",
        ),
        CheckConstraint("total >= 0", name="total_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    # The customer's link to the order: random, because the page shows an address.
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    # The idempotency key the storefront's script generates per page view.
    token: Mapped[str | None] = mapped_column(String(64))
    customer_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(Text)
    total: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.PLACED.value)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    vendor: Mapped[Vendor] = relationship()
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.id"
    )


class OrderLine(db.Model):
    """One product in an order, with its name and price as they were when sold."""

    __tablename__ = "order_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    # Deleting a product keeps the lines that sold it.
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("products.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    unit_price: Mapped[Decimal] = mapped_column(Money)
    quantity: Mapped[int] = mapped_column(Integer)

    order: Mapped[Order] = relationship(back_populates="lines")

    @property
    def subtotal(self) -> Decimal:
        return self.unit_price * self.quantity
