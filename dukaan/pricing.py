"""What an order costs: subtotal, delivery, the cash-on-delivery fee and the total.

One function, ``price``, decides it for the store page's running total, for
placing an order and for what the order keeps. It only computes: the store's
terms come in as ``Terms`` (a snapshot of the vendor's settings, which the
cached store page also carries), so the rule needs no database.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from decimal import Decimal

COD = "cod"
UPI = "upi"
PAYMENT_METHODS = {COD: "Cash on delivery", UPI: "UPI"}
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Terms:
    """A store's selling terms, as its settings say now. ``None`` money means "none"."""

    open: bool = True
    accept_cod: bool = True
    accept_upi: bool = False
    delivery_fee: Decimal | None = None
    free_delivery_from: Decimal | None = None
    min_order: Decimal | None = None
    cod_fee: Decimal | None = None

    @classmethod
    def of(cls, vendor) -> Terms:
        return cls(
            open=vendor.open, accept_cod=vendor.accept_cod, accept_upi=vendor.accept_upi,
            delivery_fee=vendor.delivery_fee, free_delivery_from=vendor.free_delivery_from,
            min_order=vendor.min_order, cod_fee=vendor.cod_fee,
        )

    def as_tuple(self) -> tuple:
        """Plain values, for a cache entry (``Terms(*values)`` makes it again)."""
        return astuple(self)

    @property
    def methods(self) -> tuple[str, ...]:
        """The payment methods the store takes, cash first."""
        return tuple(m for m, on in ((COD, self.accept_cod), (UPI, self.accept_upi)) if on)

    @property
    def default_payment(self) -> str | None:
        """The method an order uses when the customer names none: the store's only one."""
        return self.methods[0] if len(self.methods) == 1 else None


@dataclass(frozen=True)
class Price:
    """What an order of ``subtotal`` paid by ``payment`` costs at a store."""

    subtotal: Decimal
    delivery: Decimal
    cod_fee: Decimal
    total: Decimal
    payment: str | None
    # How much more the subtotal must be to reach the store's minimum order (0: reached).
    shortfall: Decimal
    min_order: Decimal | None
    # What more the subtotal needs for free delivery; None when delivery is free anyway.
    to_free_delivery: Decimal | None

    @property
    def below_minimum(self) -> str | None:
        """The refusal the customer reads when the subtotal is short of the minimum, or None."""
        if not self.shortfall:
            return None
        return f"Add ₹{self.shortfall:,.2f} more to order: the minimum is ₹{self.min_order:,.2f}."


def price(terms: Terms, subtotal: Decimal, payment: str | None = None) -> Price:
    """Price an order whose goods cost ``subtotal``, paid by ``payment`` (``cod``, ``upi`` or None
    when not chosen yet: no cash fee then).

    Delivery costs the store's fee unless the subtotal is at or above its
    free-delivery value; cash on delivery adds its fee; the minimum order
    applies to the subtotal, before delivery and fees. An empty order costs nothing.
    """
    subtotal = Decimal(subtotal)
    fee = terms.delivery_fee or ZERO
    free_from = terms.free_delivery_from
    if subtotal <= 0 or (free_from is not None and subtotal >= free_from):
        delivery = ZERO
    else:
        delivery = fee
    to_free = free_from - subtotal if delivery and free_from is not None else None
    cod_fee = (terms.cod_fee or ZERO) if payment == COD and subtotal > 0 else ZERO
    minimum = terms.min_order
    shortfall = minimum - subtotal if minimum is not None and subtotal < minimum else ZERO
    return Price(
        subtotal=subtotal, delivery=delivery, cod_fee=cod_fee, total=subtotal + delivery + cod_fee,
        payment=payment, shortfall=shortfall, min_order=minimum, to_free_delivery=to_free,
    )
