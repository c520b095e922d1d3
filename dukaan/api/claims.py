"""Idempotency-Keys of ``POST /api/v1/orders``, and through them the orders a customer placed.

A customer claims a key (``claim``) before placing the order, in a transaction
of its own, so that a second request with the key sees the claim at once:

- the same body and the order placed: that order again (a replay);
- a different body: refused, whatever became of the first;
- the same body while the first request is still placing the order: refused
  for now (try again in a moment), until ``API_ORDER_LEASE_SECONDS`` after it
  began; then the first is presumed dead and the retry takes the claim over.

A request whose order was refused (short stock, a rule of the order) lets go of
its claim (``release``): nothing was placed, so the key is free again. The
order itself is placed by ``orders.place`` under a token derived from the
customer and the key (``order_token``): even two requests that both hold the
claim (one presumed dead but alive) place one order.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Order, OrderClaim, aware, utcnow


class KeyReused(Exception):
    """The key was first sent with another body."""


class StillPlacing(Exception):
    """Another request with the key is placing the order now; ``retry_after`` seconds at most."""

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__(f"retry after {retry_after} s")


@dataclass(frozen=True)
class Claim:
    """This request's hold on a key: ``order_id`` is the order the key placed before (a
    replay), or None (this request places it; ``taken_over``: after a presumed-dead one)."""

    id: int
    claimed_at: datetime
    order_id: int | None = None
    taken_over: bool = False


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def request_hash(body: dict) -> str:
    """The body as parsed, whatever its keys' order and spacing."""
    return _sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str))


def order_token(customer_id: int, key: str) -> str:
    """``orders.place``'s token for ``key`` of ``customer_id``: 64 characters, and never a
    store page's (those have no ``_``)."""
    return "api_" + _sha256(f"{customer_id}\n{key}")[:60]


def claim(customer_id: int, key: str, body_hash: str) -> Claim:
    """Claim ``key`` for a request with a body hashing to ``body_hash`` (committed).

    Raises ``KeyReused`` when the key came with another body, ``StillPlacing`` while
    another request holds it.
    """
    key_hash = _sha256(key)
    lease = timedelta(seconds=current_app.config["API_ORDER_LEASE_SECONDS"])
    session = db.session
    for _ in range(3):  # a claim let go of between our insert and our read: claim again
        now = utcnow()
        row = OrderClaim(customer_id=customer_id, key_hash=key_hash, request_hash=body_hash,
                         created_at=now, claimed_at=now)
        session.add(row)
        try:
            session.commit()
            return Claim(row.id, now)
        except IntegrityError:  # the key is claimed (the unique key waited for its commit)
            session.rollback()
        found = session.execute(
            select(OrderClaim.id, OrderClaim.request_hash, OrderClaim.order_id, OrderClaim.claimed_at)
            .where(OrderClaim.customer_id == customer_id, OrderClaim.key_hash == key_hash)
        ).one_or_none()
        if found is None:
            continue
        if found.request_hash != body_hash:
            raise KeyReused()
        if found.order_id is not None:
            return Claim(found.id, aware(found.claimed_at), found.order_id)
        began = aware(found.claimed_at)
        if now - began < lease:
            raise StillPlacing(max(1, min(5, round((began + lease - now).total_seconds()))))
        # Presumed dead: take over, unless another retry just did (the claim moved on).
        taken = session.execute(
            update(OrderClaim)
            .where(OrderClaim.id == found.id, OrderClaim.claimed_at == found.claimed_at,
                   OrderClaim.order_id.is_(None))
            .values(claimed_at=now)
        ).rowcount
        session.commit()
        if taken == 1:
            return Claim(found.id, now, taken_over=True)
        raise StillPlacing(1)
    raise StillPlacing(1)


def settle(claim: Claim, order: Order) -> None:
    """Bind ``claim``'s key to the ``order`` it placed (committed)."""
    db.session.execute(update(OrderClaim).where(OrderClaim.id == claim.id).values(order_id=order.id))
    db.session.commit()


def release(claim: Claim) -> None:
    """Let go of ``claim``: its order was refused and nothing was placed (committed). A claim
    another request has taken over since is theirs, and stays."""
    db.session.execute(
        delete(OrderClaim).where(OrderClaim.id == claim.id, OrderClaim.claimed_at == claim.claimed_at,
                                 OrderClaim.order_id.is_(None))
    )
    db.session.commit()


# --- the orders a customer placed --------------------------------------------------------


def _placed_by(customer_id: int) -> Select:
    return (
        select(Order)
        .join(OrderClaim, OrderClaim.order_id == Order.id)
        .where(OrderClaim.customer_id == customer_id)
    )


def placed_order(customer_id: int, *, ref: str | None = None, order_id: int | None = None) -> Order | None:
    """One order ``customer_id`` placed through the API, by ``ref`` or id; None if it is not theirs."""
    query = _placed_by(customer_id).options(selectinload(Order.lines), selectinload(Order.vendor))
    query = query.where(Order.ref == ref) if ref is not None else query.where(Order.id == order_id)
    return db.session.scalar(query)


def placed_orders(customer_id: int, page: int, per_page: int) -> tuple[list[Order], int]:
    """One page of the orders ``customer_id`` placed through the API, newest first, and how
    many there are in all."""
    total = db.session.scalar(select(func.count()).select_from(_placed_by(customer_id).subquery())) or 0
    found = db.session.scalars(
        _placed_by(customer_id)
        .options(selectinload(Order.lines), selectinload(Order.vendor))
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(per_page).offset((page - 1) * per_page)
    )
    return list(found), total
