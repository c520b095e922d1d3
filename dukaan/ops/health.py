"""Health endpoints: ``/livez`` (the process answers) and ``/healthz`` (its database and cache)."""

from flask import Flask, jsonify
from sqlalchemy import text

from ..extensions import cache, db


def register(app: Flask) -> None:
    @app.get("/livez")
    def livez():
        """Alive: touches neither the database nor the cache (the benchmark's ceiling)."""
        return "ok", 200, {"Content-Type": "text/plain", "Cache-Control": "no-store"}

    @app.get("/healthz")
    def healthz():
        """The state of the database and the cache; 503 without a database."""
        state = {"database": "ok", "cache": "ok"}
        try:
            db.session.execute(text("SELECT 1"))
        except Exception as error:  # report, don't raise: this is the health check
            app.logger.warning("health check: database unreachable: %s", error)
            db.session.rollback()
            state["database"] = "unreachable"
        try:
            cache.set("healthz", "ok", timeout=5)
            if cache.get("healthz") != "ok":
                state["cache"] = "not storing"
        except Exception as error:
            app.logger.warning("health check: cache unreachable: %s", error)
            state["cache"] = "unreachable"
        state["cache_backend"] = app.config["CACHE_TYPE"]
        code = 200 if state["database"] == "ok" else 503
        response = jsonify(state)
        response.status_code = code
        response.headers["Cache-Control"] = "no-store"
        return response
