"""What every model file shares: money, the clock, and rows that belong to a vendor."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Numeric, Select, select

# Up to ₹9,99,99,99,99,999.99: wider than any total orders.MAX_ORDER_TOTAL lets through.
Money = Numeric(14, 2)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def aware(moment: datetime) -> datetime:
    """``moment`` with its zone: SQLite hands back naive UTC where PostgreSQL gives UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


class VendorOwned:
    """A row that belongs to one vendor (it has a ``vendor_id``)."""

    @classmethod
    def owned_by(cls, vendor) -> Select:
        """The vendor's rows of this kind and nobody else's: the one place a query is scoped
        to a vendor. Takes a vendor, not the logged-in user, so the web and an API share it."""
        return select(cls).where(cls.vendor_id == vendor.id)
