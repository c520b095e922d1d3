"""The catalogue: a vendor's products and the categories they are grouped in."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .common import Money, VendorOwned, utcnow

if TYPE_CHECKING:
    from .vendors import Vendor


class Category(VendorOwned, db.Model):
    """A section of a vendor's store page. Names are unique per vendor whatever their case
    (``name_key``); ``position`` orders the sections (``dukaan.categories`` keeps it 0, 1, 2…)."""

    __tablename__ = "categories"
    __table_args__ = (
        # A database rule too, so two vendors' tabs adding "Sweets" and "sweets" at once keep one.
        UniqueConstraint("vendor_id", "name_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    # The name casefolded: what "the same name" means (Sweets, SWEETS and sweets are one).
    name_key: Mapped[str] = mapped_column(String(60))
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Product(VendorOwned, db.Model):
    """Something a vendor sells. Its stock moves only through ``dukaan.inventory``."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("mrp IS NULL OR mrp >= price", name="mrp_at_least_price"),
        CheckConstraint("max_per_order IS NULL OR max_per_order > 0", name="max_per_order_positive"),
        CheckConstraint("low_stock_at IS NULL OR low_stock_at >= 0", name="low_stock_at_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    price: Mapped[Decimal] = mapped_column(Money)
    mrp: Mapped[Decimal | None] = mapped_column(Money)
    stock: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    available: Mapped[bool] = mapped_column(default=True, server_default=true())
    # The most one order may take (a sale-day limit the vendor sets); None: no limit.
    max_per_order: Mapped[int | None] = mapped_column(Integer)
    # The vendor is emailed when a stock movement takes the stock from above this to it or
    # below (inventory); None: never.
    low_stock_at: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # At most one category; deleting the category leaves the product uncategorised.
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id", ondelete="SET NULL"), index=True)

    vendor: Mapped[Vendor] = relationship(back_populates="products")
    category: Mapped[Category | None] = relationship()

    # Units live carts hold, where a query of products set it (products.listing, on_sale).
    held = None
    # Its visible reviews' average and count (reviews.Rating), where products.on_sale set it.
    rating = None

    @property
    def in_stock(self) -> bool:
        return self.stock > 0

    @property
    def free(self) -> int | None:
        """What customers may still buy: the stock less the live holds of carts."""
        return None if self.held is None else max(0, self.stock - self.held)

    @property
    def discounted(self) -> bool:
        return self.mrp is not None and self.mrp > self.price
