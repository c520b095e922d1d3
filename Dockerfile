# Dukaan's web image: gunicorn serving the Flask app. Compose runs migrations
# once in a one-shot service from the same image, never in every worker.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLASK_APP=wsgi \
    DUKAAN_ENV=production \
    PROXY_COUNT=1 \
    GUNICORN_BIND=0.0.0.0:8000

WORKDIR /app
RUN useradd --system --create-home --uid 10001 dukaan

# Dependencies first: their layer is rebuilt only when requirements change.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY config.py wsgi.py gunicorn.conf.py ./
COPY dukaan ./dukaan
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
# The media volume's mount point: a new volume takes this folder's owner, so the app can write photos.
RUN mkdir -p /app/media && chown 10001 /app/media

USER 10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
CMD ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
