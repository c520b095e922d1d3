"""Orders customers place, and their lines."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .common import Money, VendorOwned, utcnow

if TYPE_CHECKING:
    from .vendors import Vendor


class OrderStatus(enum.StrEnum):
    PLACED = "placed"
    CONFIRMED = "confirmed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class PaymentState(enum.StrEnum):
    """Whether the store has its money, apart from the order's progress."""

    PENDING = "pending"  # not paid yet (cash: until delivered)
    CLAIMED = "claimed"  # the customer says they paid by UPI and gave its reference (UTR)
    PAID = "paid"
    NOT_RECEIVED = "not_received"  # the vendor found no such payment


class Order(VendorOwned, db.Model):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("vendor_id", "number"),
        UniqueConstraint("vendor_id", "token"),
        CheckConstraint(
            "status IN ('placed', 'confirmed', 'shipped', 'delivered', 'cancelled')",
            name="status_known",
        ),
        CheckConstraint("total >= 0", name="total_not_negative"),
        CheckConstraint("subtotal >= 0 AND delivery_fee >= 0 AND cod_fee >= 0", name="charges_not_negative"),
        CheckConstraint("total = subtotal + delivery_fee + cod_fee", name="total_adds_up"),
        CheckConstraint("payment_method IN ('cod', 'upi')", name="payment_method_known"),
        CheckConstraint("payment_state IN ('pending', 'claimed', 'paid', 'not_received')",
                        name="payment_state_known"),
        CheckConstraint("utr IS NULL OR length(utr) = 12", name="utr_twelve_digits"),
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
    # Where the customer is told of each change of the order (optional; an API customer's own).
    email: Mapped[str | None] = mapped_column(String(254))
    # What the order cost as at checkout (pricing.price): a later settings change never rewrites it.
    subtotal: Mapped[Decimal] = mapped_column(Money)
    delivery_fee: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"), server_default="0")
    cod_fee: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"), server_default="0")
    total: Mapped[Decimal] = mapped_column(Money)
    payment_method: Mapped[str] = mapped_column(String(8), default="cod", server_default="cod")
    payment_state: Mapped[str] = mapped_column(
        String(16), default=PaymentState.PENDING.value, server_default=PaymentState.PENDING.value
    )
    # The UPI reference (UTR) the customer gave: 12 digits.
    utr: Mapped[str | None] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.PLACED.value)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    # When the order reached each later state (placed: created_at), and its payment's moments.
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
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
