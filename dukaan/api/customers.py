"""Customer accounts and tokens: register, log in (a token), log out, change the password."""

from __future__ import annotations

from apiflask.exceptions import HTTPError
from flask import current_app, g, request

from .. import customers
from ..extensions import limit_key, limiter
from . import bp
from .auth import auth
from .schemas import CustomerIn, CustomerOut, PasswordIn, TokenIn, TokenOut

TOO_MANY = "Too many attempts. Wait a few minutes, then try again."


def _config(name: str):
    return lambda: current_app.config[name]


def _account() -> str:
    body = request.get_json(silent=True)
    username = body.get("username") if isinstance(body, dict) else None
    return limit_key("api-account:" + (username.strip().lower() if isinstance(username, str) else ""))


def _failed(response) -> bool:
    return response.status_code != 201


def invalid(field: str, message: str) -> HTTPError:
    """A 422 naming ``field`` of the JSON body, shaped like the schema's own errors."""
    return HTTPError(422, message, detail={"json": {field: [message]}})


@bp.post("/customers")
@limiter.limit(_config("API_SIGNUP_LIMIT_PER_CLIENT"), error_message=TOO_MANY)
@bp.input(CustomerIn, arg_name="body")
@bp.output(CustomerOut, status_code=201)
@bp.doc(tags=["Customers"], responses={429: "Too many registrations from this client"})
def register(body):
    """Register a customer account

    Then exchange the username and password for a token (`POST /api/v1/tokens`).
    """
    try:
        customer = customers.register(body["username"], body["password"], body["name"], body["phone"],
                                      body["email"])
    except customers.AccountError as error:
        raise invalid(error.field, str(error)) from None
    return customer


@bp.get("/customers/me")
@bp.auth_required(auth)
@bp.output(CustomerOut)
@bp.doc(tags=["Customers"])
def me():
    """Your account"""
    return auth.current_user


@bp.put("/customers/me/password")
@bp.auth_required(auth)
@bp.input(PasswordIn, arg_name="body")
@bp.output(TokenOut)
@bp.doc(tags=["Customers"])
def change_password(body):
    """Change your password

    Every token of the account ends, this one included; the answer carries a new one.
    """
    try:
        issued = customers.change_password(auth.current_user, body["current_password"], body["new_password"])
    except customers.AccountError as error:
        raise invalid(error.field, str(error)) from None
    return issued


@bp.post("/tokens")
@limiter.limit(_config("API_TOKEN_LIMIT_PER_CLIENT"), error_message=TOO_MANY)
@limiter.limit(_config("API_TOKEN_LIMIT_PER_ACCOUNT"), deduct_when=_failed, key_func=_account,
               error_message=TOO_MANY)
@bp.input(TokenIn, arg_name="body")
@bp.output(TokenOut, status_code=201)
@bp.doc(tags=["Tokens"], responses={401: "Wrong username or password", 429: "Too many attempts"})
def token(body):
    """Log in: a token for a username and password"""
    customer = customers.authenticate(body["username"], body["password"])
    if customer is None:
        raise HTTPError(401, "Wrong username or password.")
    return customers.issue_token(customer)


@bp.delete("/tokens/current")
@bp.auth_required(auth)
@bp.output({}, status_code=204)
@bp.doc(tags=["Tokens"])
def logout():
    """Log out: this token ends at once"""
    customers.revoke(g.api_token)
    return ""

