"""What the profiling scripts share: a throwaway database and the production settings to profile on."""

from __future__ import annotations

import os
import secrets

BASE = os.environ.get("PROFILE_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


def production_on_fresh_database(database: str, redis_db: int, **settings: str):
    """Drop and create ``database``, and point this process's environment at it with the
    production settings (no broker, no replica, ``settings`` on top). Returns the admin engine,
    to drop the database again."""
    from sqlalchemy import create_engine, text

    from config import database_url

    admin = create_engine(database_url(f"{BASE}/postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {database}"))
    os.environ.update(DUKAAN_ENV="production", DATABASE_URL=f"{BASE}/{database}",
                      REDIS_URL=f"redis://127.0.0.1:6379/{redis_db}", SECRET_KEY=secrets.token_hex(32),
                      CACHE_REFRESH_KEY=secrets.token_hex(16), SESSION_COOKIE_SECURE="0", **settings)
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.pop("DATABASE_REPLICA_URL", None)
    return admin
