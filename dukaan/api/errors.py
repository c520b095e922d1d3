"""The API's errors: always JSON, the same shape as the site's JSON errors (``dukaan.errors``),
with ``detail`` naming the fields at fault when the input was invalid."""

from __future__ import annotations

from apiflask import APIFlask, Schema
from apiflask.exceptions import HTTPError
from apiflask.fields import Dict, Integer, String
from flask import jsonify
from werkzeug.http import HTTP_STATUS_CODES


class ErrorSchema(Schema):
    status = Integer(required=True, metadata={"description": "The HTTP status code."})
    error = String(required=True, metadata={"description": "Its reason phrase."})
    message = String(required=True, metadata={"description": "What went wrong, for a person."})
    detail = Dict(metadata={"description": "For invalid input: where (json, query, headers) "
                                           "and, by field, what is wrong with it."})


def respond(error: HTTPError):
    """``error`` as the API's JSON body."""
    from ..extensions import db

    db.session.rollback()  # whatever the request wrote is abandoned with it
    code = error.status_code
    body = {"status": code, "error": HTTP_STATUS_CODES.get(code, "Error"),
            "message": error.message or HTTP_STATUS_CODES.get(code, "Error")}
    if error.detail:
        body["detail"] = error.detail
    body.update(error.extra_data)
    response = jsonify(body)
    response.status_code = code
    response.headers.update(error.headers or {})
    return response


def register(app: APIFlask) -> None:
    # Replaces APIFlask's own handler (json_errors=False would answer its errors in text).
    app.register_error_handler(HTTPError, respond)
