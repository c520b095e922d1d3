from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from .. import accounts
from ..extensions import limit_key, limiter
from . import bp
from .forms import LoginForm, PasswordForm, SignupForm


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site, else the dashboard."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("dashboard.products")


def _start_session(vendor) -> None:
    # A fresh session on every login: nothing from before it (a fixed session
    # id, an old CSRF token) carries over.
    session.clear()
    accounts.start_session(vendor)
    login_user(vendor)


@bp.after_request
def no_store(response):
    # Every auth page carries a CSRF token, and the account page is private.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _config(name: str):
    return lambda: current_app.config[name]


def _failed(response) -> bool:
    """A login attempt counts against the limits only when it fails."""
    return response.status_code != 303


def _account() -> str:
    return limit_key("account:" + accounts.normalise_username(request.form.get("username", "")))


TOO_MANY = "Too many attempts. Wait a few minutes, then try again."


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.products"))
    return render_template("auth/index.html")


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(_config("SIGNUP_LIMIT_PER_CLIENT"), methods=["POST"], error_message=TOO_MANY)
def signup():
    form = SignupForm()
    if form.validate_on_submit():
        try:
            vendor = accounts.create_vendor(
                form.username.data, form.store_name.data, form.password.data, form.email.data
            )
        except accounts.AccountError as error:
            getattr(form, error.field).errors.append(str(error))
        else:
            _start_session(vendor)
            flash(f"Welcome to Dukaan! Your store {vendor.store_name} is open.", "success")
            return redirect(url_for("dashboard.products"), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("auth/signup.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_config("LOGIN_LIMIT_PER_CLIENT"), methods=["POST"], deduct_when=_failed, error_message=TOO_MANY)
@limiter.limit(_config("LOGIN_LIMIT_PER_ACCOUNT"), methods=["POST"], deduct_when=_failed, key_func=_account,
               error_message=TOO_MANY)
def login():
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        vendor = accounts.authenticate(form.username.data, form.password.data)
        if vendor is not None:
            _start_session(vendor)
            return redirect(safe_next(request.args.get("next")), 303)
        error = "Wrong username or password."
    status = 422 if form.is_submitted() else 200
    return render_template("auth/login.html", form=form, error=error), status


@bp.post("/logout")
@login_required
def logout():
    accounts.end_session(current_user.session_token)
    _forget_login()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.index"), 303)


@bp.post("/logout/everywhere")
@login_required
def logout_everywhere():
    accounts.end_all_sessions(current_user)
    _forget_login()
    flash("You are logged out on every device.", "info")
    return redirect(url_for("auth.index"), 303)


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    """Change the password; every other device is logged out."""
    form = PasswordForm()
    if form.validate_on_submit():
        vendor = current_user._get_current_object()
        try:
            accounts.change_password(vendor, form.current_password.data, form.new_password.data)
        except accounts.AccountError as error:
            getattr(form, error.field).errors.append(str(error))
        else:
            _start_session(vendor)
            flash("Password changed. Every other device is logged out.", "success")
            return redirect(url_for("dashboard.products"), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("auth/password.html", form=form), status


def _forget_login() -> None:
    logout_user()
    session.clear()
