"""Jobs that keep the store pages' caches in step with the database."""

from __future__ import annotations

import logging

from flask import current_app

from . import Retry, job

log = logging.getLogger(__name__)


@job("storefront.refresh_shared_cache")
def refresh_shared_cache(slug: str) -> None:
    from ..storefront_cache import shared

    shared.refresh(slug)


@job("storefront.write_version")
def write_version(slug: str) -> None:
    """Give ``slug`` the new version the cache refused at commit time, once it answers.

    Until then every process would take the old entries up again. Retried
    every ``STOREFRONT_VERSION_RETRY_SECONDS``, quietly: the commit warned once.
    """
    from ..storefront_cache import entries, shared

    if not entries.new_version(slug, quiet=True):
        raise Retry(current_app.config["STOREFRONT_VERSION_RETRY_SECONDS"])
    log.info("storefront cache reachable again: %s has its new version", slug)
    # Processes may have refilled the shared cache from the old entries meanwhile.
    shared.refresh_soon(slug)


@job("storefront.forget")
def forget(slug: str) -> None:
    """Outdate ``slug``'s page now: a hold it showed has lapsed."""
    from ..storefront_cache import forget as forget_page

    forget_page(slug)
