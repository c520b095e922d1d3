"""The shared cache in front of the app (nginx): each store page (and its product pages)
is fetched anew after a change.

nginx keeps a gzipped and a plain copy of each page, and refreshes a copy when
asked with ``X-Cache-Refresh: <CACHE_REFRESH_KEY>``. A refresh is a job: the
change is committed already, and a slow or absent nginx must not hold up the
request that made it.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request

from flask import current_app

from .. import jobs
from . import entries

log = logging.getLogger(__name__)

ENCODINGS = ("gzip", "identity")


def configured() -> bool:
    config = current_app.config
    return bool(config["SHARED_CACHE_URL"] and config["CACHE_REFRESH_KEY"])


def refresh_soon(slug: str) -> None:
    """Have nginx fetch ``slug``'s page anew, now and once more shortly.

    A fill that read the database before the change can land after the first
    refresh, and the first refresh can meet a process still trusting its page
    (``STOREFRONT_PAGE_TRUST_SECONDS``); the second overwrites both.
    """
    if not configured():
        return
    jobs.enqueue("storefront.refresh_shared_cache", slug=slug)
    jobs.enqueue("storefront.refresh_shared_cache", slug=slug,
                 delay=current_app.config["SHARED_CACHE_REFRESH_AGAIN_SECONDS"])


def refresh(slug: str) -> None:
    """Fetch both copies of ``slug``'s page, and of each product page rendered lately,
    through nginx, now; failures are logged (nginx's own expiry bounds the damage)."""
    from ..storefront import STOREFRONT_PREFIX

    config = current_app.config
    store = f"{config['SHARED_CACHE_URL']}{STOREFRONT_PREFIX}/{slug}"
    urls = [store] + [f"{store}{entries.PRODUCT_PAGE}{product_id}" for product_id in entries.product_pages(slug)]
    for url in urls:
        for encoding in ENCODINGS:
            request = urllib.request.Request(
                url, headers={"X-Cache-Refresh": config["CACHE_REFRESH_KEY"], "Accept-Encoding": encoding}
            )
            try:
                with urllib.request.urlopen(request, timeout=3) as response:
                    response.read()
            except urllib.error.HTTPError as error:
                if error.code != 404:  # a product taken off sale: nginx keeps no 404
                    log.warning("shared cache refresh of %s (%s) failed: %s", url, encoding, error)
            except Exception as error:
                log.warning("shared cache refresh of %s (%s) failed: %s", url, encoding, error)
