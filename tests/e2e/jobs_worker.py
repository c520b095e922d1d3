"""What ``celery -A wsgi:celery_app`` loads, plus the tests' slow job: ``celery -A jobs_worker:celery_app``."""

import slow_job  # noqa: F401  (registers test.slow before the app makes its tasks)

from wsgi import app, celery_app  # noqa: F401
