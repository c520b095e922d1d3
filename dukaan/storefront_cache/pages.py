"""A store's whole page, as fast as it can be had, and forgetting it when the store changes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from flask import current_app
from sqlalchemy.orm import Session

from .. import jobs, replica
from ..models import utcnow
from ..ops import metrics
from . import entries, replay, shared
from .entries import Loader, Storefront
from .memo import Page, PageMemo

log = logging.getLogger(__name__)

MEMO = "dukaan.storefront_pages"


def memo() -> PageMemo:
    return current_app.extensions[MEMO]


def page(slug: str, load: Loader, render: Callable[[Storefront], str]) -> Page | None:
    """``slug``'s page, ``render`` applied to its ``Storefront``; None if there is no such store.

    While the store's version in the cache is unchanged, the page rendered
    last in this process is sent again: one cache read, no SQL, no rendering.
    Any change moves the version on (``forget``) and the next request renders
    anew. Within ``STOREFRONT_PAGE_TRUST_SECONDS`` of the last check even the
    cache read is skipped: on a sale day that turns thousands of reads a second
    into ten per process, and a change still shows within that fraction of a second.
    """

    def fill(_version: str | None) -> str | None:  # entries.storefront reads the version it stores under
        front = entries.storefront(slug, load) if current_app.config["STOREFRONT_CACHE"] else load(slug)
        return None if front is None else render(front)

    return _kept(slug, slug, fill)


def product_page(slug: str, product_id: int, render: Callable[[Session], str | None]) -> Page | None:
    """A product's page in ``slug``'s store, ``render(session)`` (None: no such product on sale),
    kept as the store page is: under the store's version, so any change to the store
    outdates it. nginx's copy is refreshed with the store page's (``shared``).

    ``render`` reads on the replica's session once the replica has replayed the change that
    made that version (and the visitor's own last write), as the store page's fill does."""

    def fill(version: str | None) -> str | None:
        html = render(replica.session(at_least=entries.replayed_by(version)))
        if html is not None:
            entries.remember_product_page(slug, product_id)
        return html

    return _kept(slug, f"{slug}{entries.PRODUCT_PAGE}{product_id}", fill)


def _kept(slug: str, key: str, fill: Callable[[str | None], str | None]) -> Page | None:
    """The page kept under ``key`` in this process while ``slug``'s version stands, else
    ``fill(version)``: the version it will be kept under (None: it will not be kept)."""
    config = current_app.config
    if not config["STOREFRONT_CACHE"]:
        html = fill(None)
        return None if html is None else Page.from_html(html)
    pages = current_app.extensions[MEMO]
    trust = config["STOREFRONT_PAGE_TRUST_SECONDS"]
    if trust and (found := pages.recent(key, trust)) is not None:
        metrics.cache_lookup("page", "hit")
        _replayable(key, found)
        return found
    version = entries.current_version(slug)
    if version is not None and (found := pages.get(key, version)) is not None:
        metrics.cache_lookup("page", "hit")
        _replayable(key, found)
        return found
    metrics.cache_lookup("page", "miss")
    html = fill(version)
    if html is None:
        return None
    found = Page.from_html(html)
    if version is not None:
        # Kept under the version read before the database: if a change
        # committed meanwhile, the version has moved on and this is not reused.
        pages.put(key, version, found)
        _replayable(key, found)
    return found


def _replayable(key: str, page: Page) -> None:
    """The same request may have ``page`` again without Flask while the memo trusts it (``replay``)."""
    config = current_app.config
    if config["STOREFRONT_PAGE_TRUST_SECONDS"]:
        pages = current_app.extensions[MEMO]
        replay.allow("page", lambda: pages.recent(key, config["STOREFRONT_PAGE_TRUST_SECONDS"]) is page)


def forget(slug: str) -> None:
    """``slug``'s store changed: outdate its entry, this process's page and nginx's copies.

    If the cache cannot be reached, its entries stay under the old version and
    every process would take them up again the moment it is back: the new
    version is then written by a job, retried until the cache answers.
    """
    if not entries.new_version(slug):
        log.warning("storefront cache: %s keeps its old version for now; retrying every %s s",
                    slug, current_app.config["STOREFRONT_VERSION_RETRY_SECONDS"])
        jobs.enqueue("storefront.write_version", slug=slug, key=f"storefront.write_version:{slug}",
                     delay=current_app.config["STOREFRONT_VERSION_RETRY_SECONDS"])
    # This process sees its own change at once, trust window or not.
    memo().drop(slug)
    shared.refresh_soon(slug)


def forget_at(slug: str, when: datetime) -> None:
    """``forget(slug)`` at ``when`` (by a job; one per store and second)."""
    delay = max(0.0, (when - utcnow()).total_seconds())
    jobs.enqueue("storefront.forget", slug=slug, delay=delay,
                 key=f"storefront.forget:{slug}:{int(when.timestamp())}")


class CacheUnreachable(RuntimeError):
    """The cache did not answer an operator's request."""


def clear(slug: str | None = None) -> None:
    """Drop every cached copy of ``slug``'s page, as ``forget`` does, or of every store's.

    Raises ``CacheUnreachable`` when the cache does not answer: an operator asked.
    nginx's copies of every store are not listed anywhere; they expire by themselves.
    """
    if slug is not None:
        if not entries.new_version(slug, quiet=True):
            raise CacheUnreachable("the cache is unreachable")
        memo().drop(slug)
        shared.refresh_soon(slug)
        return
    if not entries.call("clear"):
        raise CacheUnreachable("the cache is unreachable")
    memo().clear()
