"""The catalogue: a vendor's products, the categories they are grouped in, and their photos."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
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
    # Its photos, the cover first; the database deletes them with the product (their files go
    # by a job: photos.forget_product).
    photos: Mapped[list[ProductPhoto]] = relationship(
        back_populates="product", order_by="(ProductPhoto.position, ProductPhoto.id)", passive_deletes=True,
    )

    # Units live carts hold, where a query of products set it (products.listing, on_sale).
    held = None
    # Its visible reviews' average and count (reviews.Rating), where products.on_sale set it.
    rating = None
    # Its first ready photo (photos.Cover: URLs and size), where products.on_sale set it.
    cover = None
    # How many photos it has and how many are still processing, where photos.annotate set them.
    photo_count = 0
    photos_waiting = 0

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


class PhotoState(StrEnum):
    PROCESSING = "processing"  # uploaded; the job has not made its renditions yet
    READY = "ready"  # every rendition exists: the store shows it
    FAILED = "failed"  # the job could not make them: ``error`` says why, the vendor may retry


class ProductPhoto(VendorOwned, db.Model):
    """One photo of a product. Its files are WebP renditions named by ``key``, a hash of the
    upload (``photos.rendition_key``); the store shows it once it is ready."""

    __tablename__ = "product_photos"
    __table_args__ = (
        CheckConstraint("state IN ('processing', 'ready', 'failed')", name="state_known"),
        CheckConstraint("position >= 0", name="position_not_negative"),
        CheckConstraint("state != 'ready' OR (width > 0 AND height > 0 AND widths != '')", name="ready_has_size"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    # The product's vendor, so that one helper scopes photos as it scopes products.
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id", ondelete="CASCADE"), index=True)
    # 0 is the cover; the vendor moves photos earlier and later.
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    state: Mapped[str] = mapped_column(String(12), default=PhotoState.PROCESSING,
                                       server_default=PhotoState.PROCESSING.value)
    # What went wrong, in words the vendor reads (state failed).
    error: Mapped[str | None] = mapped_column(Text)
    # The file's name on the vendor's device: shown on the dashboard only, never to customers.
    filename: Mapped[str] = mapped_column(String(255), default="", server_default="")
    # A hash of the uploaded bytes: the upload waits under incoming/<key>, the renditions are
    # p/<key[:2]>/<key>-<width>.webp.
    key: Mapped[str] = mapped_column(String(64), index=True)
    # The rendition widths that exist ("320 640 1280"; fewer for a small photo: never upscaled).
    widths: Mapped[str] = mapped_column(String(40), default="", server_default="")
    # The largest rendition's size in pixels (after the EXIF orientation): the img's width/height.
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    product: Mapped[Product] = relationship(back_populates="photos")

    @property
    def ready(self) -> bool:
        return self.state == PhotoState.READY

    @property
    def rendition_widths(self) -> list[int]:
        return [int(w) for w in self.widths.split()]
