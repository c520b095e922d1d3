"""The entry points: ``gunicorn wsgi:app``; ``celery -A wsgi:celery_app worker`` (and ``beat``)."""

from dukaan import create_app

app = create_app()
celery_app = app.extensions["celery"]
