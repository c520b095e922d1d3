"""The store page's caches, from the outside in.

1. nginx keeps each store page (``shared``), refreshed by a job after a change.
2. Each process keeps the pages it rendered (``memo``), under the store's version,
   and sends a page (or an API list) it has just sent again before Flask is asked
   (``replay``).
3. Redis keeps each store's catalogue entry and version (``entries``).
4. ``shown`` declares what the page shows and outdates all three after a
   commit that changes any of it (``pages.forget``).

A view asks ``page(slug, load, render)``; an operator ``clear(slug)``.
"""

from flask import Flask

from .entries import Storefront
from .memo import Page, PageMemo
from .pages import MEMO, CacheUnreachable, clear, forget, page, product_page

__all__ = ["CacheUnreachable", "Page", "Storefront", "clear", "forget", "init_app", "page", "product_page"]


def init_app(app: Flask) -> None:
    """Give ``app`` its page memo, and hook the invalidation into its sessions."""
    from . import replay, shown

    app.extensions[MEMO] = PageMemo(app.config["STOREFRONT_MEMO_PAGES"])
    shown.listen(app)
    replay.register(app)
