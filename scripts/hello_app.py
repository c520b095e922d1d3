"""The yardstick of the benchmark's app rows: a bare Flask "hello" (scripts/bench.py serves it
with gunicorn's sync worker ×3, as the Django prototype we grew from ran, behind an nginx)."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, World!"
