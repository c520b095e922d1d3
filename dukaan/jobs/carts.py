"""The clean-up of carts: lapsed carts are deleted a while after their holds ended.

Correctness never waits for this job (a hold counts only until its cart's
``expires_at``, in every query); it keeps the tables small. A lapsed cart is
kept ``CART_KEEP_HOURS`` so a customer who comes back still sees what they chose.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete

from ..extensions import db
from ..models import Cart, utcnow
from . import job

log = logging.getLogger(__name__)


@job("carts.delete_lapsed")
def delete_lapsed() -> int:
    """Delete carts whose holds ended more than ``CART_KEEP_HOURS`` ago (their lines go with
    them); how many."""
    cutoff = utcnow() - timedelta(hours=current_app.config["CART_KEEP_HOURS"])
    deleted = db.session.execute(delete(Cart).where(Cart.expires_at < cutoff)).rowcount
    db.session.commit()
    if deleted:
        log.info("carts: %d lapsed carts deleted", deleted)
    return deleted
