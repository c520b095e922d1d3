"""The helpers every view shares: is this an htmx request, and page or fragment."""

from flask import Response, make_response, render_template, request
from flask.typing import ResponseReturnValue
from jinja2_fragments.flask import render_block


def is_htmx() -> bool:
    """True for a request that htmx will swap into part of a page.

    A boosted navigation or a history restore wants the whole page.
    """
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def empty(status: int = 200) -> Response:
    """A fragment with nothing in it: 200 swapped over an element removes it,
    204 leaves the page as it is."""
    response = make_response("", status)
    response.vary.add("HX-Request")
    return response


def render(
    template: str, block: str | None = None, status: int = 200, **context
) -> ResponseReturnValue:
    """Render ``template`` whole, or only ``block`` of it for htmx.

    The response varies on ``HX-Request`` so that no cache hands a fragment to
    a browser asking for the page, or the other way round.
    """
    if block and is_htmx():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response
