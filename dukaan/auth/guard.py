"""Sending a visitor without a live login to the login page, whatever asked: a page or htmx."""

from urllib.parse import urlsplit

from flask import flash, make_response, redirect, request, url_for

from ..extensions import login
from ..htmx import is_htmx


def _return_path() -> str:
    """The page to come back to after logging in: the one the vendor was on."""
    if request.method == "GET" and not is_htmx():
        return request.full_path.rstrip("?")
    # A POST's own URL takes no GET, and an htmx URL is a fragment: use the page.
    current = urlsplit(request.headers.get("HX-Current-URL", ""))
    if current.path.startswith("/dashboard/"):
        return current.path + (f"?{current.query}" if current.query else "")
    return url_for("dashboard.products")


def to_login():
    """A redirect to the login page that comes back here afterwards. For htmx, a 401 with
    ``HX-Redirect``: htmx would swap the login page into a table row; the whole tab goes."""
    login_url = url_for("auth.login", next=_return_path())
    if is_htmx():
        response = make_response("", 401)
        response.headers["HX-Redirect"] = login_url
        return response
    flash(login.login_message, login.login_message_category)
    return redirect(login_url)
