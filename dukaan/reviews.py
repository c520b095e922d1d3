"""Reviews: after delivery, one per order line (only buyers review, once for each thing they
bought), a rating of 1 to 5 and optional plain text; the vendor may hide one.

The store page shows each product's average and count of visible reviews
(``rating_columns``, read with the products); ``storefront_cache.shown`` declares reviews, so adding or
hiding one outdates the page after its commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from .extensions import db
from .models import Order, OrderStatus, Product, Review, Vendor

MAX_TEXT = 1000


class ReviewError(Exception):
    """A review that cannot be left; ``status`` is the HTTP status it answers with."""

    status = 409


class NotDelivered(ReviewError):
    pass


class NotInOrder(ReviewError):
    status = 422


class AlreadyReviewed(ReviewError):
    pass


@dataclass(frozen=True)
class Rating:
    average: Decimal  # to one decimal
    count: int

    @classmethod
    def of(cls, average, count: int) -> Rating | None:
        """From ``rating_columns``' values; None for a product without visible reviews."""
        if not count:
            return None
        return cls(Decimal(str(average)).quantize(Decimal("0.1"), ROUND_HALF_UP), count)


def rating_columns():
    """Two columns for a query of products: the average and count of each one's visible reviews."""
    visible = (Review.product_id == Product.id, Review.hidden.is_(False))
    return (
        select(func.avg(Review.rating)).where(*visible).correlate(Product).scalar_subquery(),
        select(func.count(Review.id)).where(*visible).correlate(Product).scalar_subquery(),
    )


def leave(order: Order, product_id: int, rating: int, text: str = "") -> Review:
    """Review the line of ``order`` that bought ``product_id`` (committed).

    Raises ``NotDelivered`` before delivery, ``NotInOrder`` for a product the
    order did not buy, ``AlreadyReviewed`` for a line reviewed before (also when
    two requests race: the database keeps one review per line), and
    ``ValueError`` for a rating outside 1–5 or text that is too long.
    """
    if not 1 <= rating <= 5:
        raise ValueError("Choose a rating from 1 to 5.")
    if len(text) > MAX_TEXT:
        raise ValueError(f"Keep the review to {MAX_TEXT} characters.")
    if order.status != OrderStatus.DELIVERED:
        raise NotDelivered(f"You can review order #{order.number} once it is delivered.")
    line = next((line for line in order.lines if line.product_id == product_id), None)
    if line is None:
        raise NotInOrder(f"Order #{order.number} did not buy that product: review what you bought.")
    if db.session.scalar(select(Review.id).where(Review.order_line_id == line.id)) is not None:
        raise AlreadyReviewed(f"You have already reviewed {line.name} from this order.")
    review = Review(vendor_id=order.vendor_id, order_line_id=line.id, product_id=product_id,
                    rating=rating, text=text)
    db.session.add(review)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AlreadyReviewed(f"You have already reviewed {line.name} from this order.") from None
    return review


def for_order(order: Order, session=None) -> dict[int, Review]:
    """The reviews of ``order``'s lines, by order line id (read on ``session``, the app's by default)."""
    ids = [line.id for line in order.lines]
    if not ids:
        return {}
    found = (session or db.session).scalars(select(Review).where(Review.order_line_id.in_(ids)))
    return {r.order_line_id: r for r in found}


def shown_with(product: Product, limit: int = 20, session=None) -> list[Review]:
    """The newest ``limit`` visible reviews of ``product``, for its page (read on ``session``,
    the app's by default)."""
    return list((session or db.session).scalars(
        select(Review).where(Review.product_id == product.id, Review.hidden.is_(False))
        .order_by(Review.id.desc()).limit(limit)
    ))


def for_vendor(vendor: Vendor) -> Select:
    """The vendor's reviews and nobody else's, newest first."""
    return Review.owned_by(vendor).order_by(Review.id.desc()).options(selectinload(Review.line))


def latest(vendor: Vendor, limit: int = 200, session=None) -> list[Review]:
    """The vendor's newest ``limit`` reviews (read on ``session``, the app's by default)."""
    return list((session or db.session).scalars(for_vendor(vendor).limit(limit)))


def get(vendor: Vendor, review_id: int) -> Review | None:
    return db.session.scalar(Review.owned_by(vendor).where(Review.id == review_id))


def set_hidden(review: Review, hidden: bool) -> None:
    review.hidden = hidden
    db.session.commit()
