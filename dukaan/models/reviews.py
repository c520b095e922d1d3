"""Reviews customers leave on what they bought: one per order line."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .common import VendorOwned, utcnow

if TYPE_CHECKING:
    from .orders import OrderLine


class Review(VendorOwned, db.Model):
    """A customer's rating (1–5) and optional plain text on one line of a delivered order.
    The vendor may hide it; a hidden review counts nowhere."""

    __tablename__ = "reviews"
    __table_args__ = (CheckConstraint("rating BETWEEN 1 AND 5", name="rating_one_to_five"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="CASCADE"), index=True)
    # One review per order line: only buyers review, once for each thing they bought.
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"), unique=True)
    # Deleting the product keeps its reviews (and their order lines).
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="", server_default="")
    hidden: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    # The line it reviews: what was bought, under the name it was sold by.
    line: Mapped[OrderLine] = relationship()
