from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from .. import accounts
from . import bp
from .forms import LoginForm, SignupForm


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
    login_user(vendor)


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.products"))
    return render_template("auth/index.html")


@bp.route("/signup", methods=["GET", "POST"])
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
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.index"), 303)
