"""A store's settings: its name, its email (new orders, low stock, the daily summary), WhatsApp
number, UPI ID, payment methods, delivery terms, and whether it is open. What they cost an
order is ``pricing``'s rule."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, fields
from decimal import Decimal

from .extensions import db
from .models import Vendor

# An Indian mobile number: 10 digits starting 6–9, after the country code.
MOBILE = re.compile(r"(?:\+91|0091|91|0)?([6-9][0-9]{9})")
MOBILE_RULE = "Enter an Indian mobile number: 10 digits starting with 6, 7, 8 or 9, like 98765 43210."
# A UPI ID (virtual payment address): a name, @, the handle of a bank or app (name@okhdfcbank).
VPA = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,98}@[A-Za-z][A-Za-z0-9]{1,63}")
MAX_VPA = 100
VPA_RULE = "Enter a UPI ID like yourname@okhdfcbank: a name, @ and your bank's or app's handle."
# Fees and order values: more than any order may be worth is a typing mistake.
MAX_AMOUNT = Decimal("9999999.99")


class SettingsError(ValueError):
    """The settings cannot be saved; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


def mobile_e164(text: str | None) -> str | None:
    """``text`` as an Indian mobile number in E.164 (+919876543210), or None if it is not one.

    Takes what people type: spaces, dashes, brackets and dots, a leading 0,
    91 or +91, and digits in any script (९८७…).
    """
    if not isinstance(text, str):
        return None
    compact = re.sub(r"[\s\-().]", "", text)
    compact = "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in compact)
    match = MOBILE.fullmatch(compact)
    return f"+91{match.group(1)}" if match else None


def vpa_problem(vpa: str) -> str | None:
    """Why ``vpa`` (stripped) is not a UPI ID, or None."""
    if len(vpa) > MAX_VPA or not VPA.fullmatch(vpa):
        return VPA_RULE
    return None


@dataclass(frozen=True)
class Settings:
    """What the settings form saves (already parsed: E.164 number, amounts as Decimal)."""

    store_name: str
    email: str | None
    daily_summary: bool  # a summary of each day with orders, to ``email``
    whatsapp: str | None
    upi_id: str | None
    accept_cod: bool
    accept_upi: bool
    delivery_fee: Decimal | None
    free_delivery_from: Decimal | None
    min_order: Decimal | None
    cod_fee: Decimal | None
    open: bool


def check(settings: Settings) -> None:
    """Raise ``SettingsError`` for settings that do not fit together: no payment method, or
    UPI without a UPI ID."""
    if not (settings.accept_cod or settings.accept_upi):
        raise SettingsError("accept_cod", "Take at least one way of paying: cash on delivery or UPI.")
    if settings.accept_upi and not settings.upi_id:
        raise SettingsError("upi_id", "Give your UPI ID to take payments by UPI.")


def save(vendor: Vendor, settings: Settings) -> None:
    """Apply ``settings`` to ``vendor`` and commit; raises ``SettingsError`` (nothing saved)."""
    check(settings)
    for f in fields(Settings):
        setattr(vendor, f.name, getattr(settings, f.name))
    db.session.commit()
