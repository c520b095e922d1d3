"""Who is calling: ``Authorization: Bearer <token>`` from ``POST /api/v1/tokens``.

The customer is ``auth.current_user``; the token's row is ``g.api_token`` (to
revoke it). Never the web session's user.
"""

from __future__ import annotations

from apiflask import HTTPTokenAuth
from flask import g

from .. import customers
from . import errors

auth = HTTPTokenAuth(scheme="Bearer", description="A token from `POST /api/v1/tokens`.")


@auth.verify_token
def _verify(token: str):
    found = customers.token_customer(token)
    if found is None:
        return None
    customer, g.api_token = found
    return customer


auth.error_processor(errors.respond)
