"""The WSGI entry point: ``gunicorn wsgi:app``."""

from dukaan import create_app

app = create_app()
