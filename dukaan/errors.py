"""Errors in the client's language: JSON under ``/api/`` and for clients that ask for JSON,
the site's HTML error page everywhere else."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .auth.guard import to_login
from .extensions import db
from .htmx import is_htmx

API_PREFIX = "/api/"

CSRF_EXPIRED = ("This form has expired or was sent from elsewhere. "
                "Go back, reload the page and try again.")


def wants_json() -> bool:
    if request.path.startswith(API_PREFIX):
        return True
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def respond(code: int, name: str, description: str | None):
    """The error ``code`` as the client reads it (JSON or the HTML page)."""
    if wants_json():
        response = jsonify(status=code, error=name, message=description or name)
        response.status_code = code
        return response
    return render_template("errors/error.html", code=code, name=name, description=description), code


def register(app: Flask) -> None:
    def http_error(error: HTTPException):
        # Whatever the request wrote is abandoned with it.
        try:
            db.session.rollback()
        except Exception:  # the database may be why we are here; answer all the same
            pass
        response = respond(error.code, error.name, error.description)
        if error.code == 405 and (allowed := error.get_response().headers.get("Allow")):
            response = app.make_response(response)
            response.headers["Allow"] = allowed
        return response

    def csrf_error(_error: CSRFError):
        if is_htmx():
            # The click would silently do nothing: a tab whose login ended goes to the
            # login page; one with a stale token reloads and gets a fresh one.
            if not current_user.is_authenticated:
                return to_login()
            response = app.make_response(("", 400))
            response.headers["HX-Refresh"] = "true"
            return response
        return respond(400, "Form expired", CSRF_EXPIRED)

    app.register_error_handler(CSRFError, csrf_error)
    app.register_error_handler(HTTPException, http_error)
