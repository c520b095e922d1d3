"""Lists a page at a time: the ``Link`` header (RFC 8288) every list of the API sends."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import request, url_for


def links(endpoint: str, page: int, per_page: int, total: int, **values) -> str:
    """The first, previous, next and last pages of the list at ``endpoint`` (with the request's
    other query parameters kept), as a ``Link`` header."""
    last = max(1, -(-total // per_page))
    pages = {"first": 1, "last": last}
    if page > 1:
        pages["prev"] = min(page - 1, last)
    if page < last:
        pages["next"] = page + 1
    base = url_for(endpoint, **values, _external=True)
    kept = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]
    return ", ".join(f'<{base}?{urlencode([*kept, ("page", number)])}>; rel="{rel}"'
                     for rel, number in pages.items())
