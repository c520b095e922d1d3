from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from . import photos, views  # noqa: E402,F401  (registers the routes on bp)
