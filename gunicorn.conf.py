"""gunicorn settings, read from the environment (the same in Compose and the native stack)."""

import multiprocessing
import os

env = os.environ.get

bind = env("GUNICORN_BIND", "0.0.0.0:8000")
# Threads let a worker overlap waits on PostgreSQL and Redis; processes use the cores.
workers = int(env("GUNICORN_WORKERS", str(multiprocessing.cpu_count() * 2)))
threads = int(env("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(env("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(env("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = int(env("GUNICORN_KEEPALIVE", "5"))
# Recycle workers now and then, staggered, to bound any slow leak.
max_requests = int(env("GUNICORN_MAX_REQUESTS", "20000"))
max_requests_jitter = max_requests // 10

accesslog = env("GUNICORN_ACCESS_LOG", "-")
errorlog = env("GUNICORN_ERROR_LOG", "-")
loglevel = env("GUNICORN_LOG_LEVEL", "info")
# %(L)s is the request time in seconds.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss "%(a)s"'
forwarded_allow_ips = env("FORWARDED_ALLOW_IPS", "127.0.0.1")

# (GUNICORN_PID itself is gunicorn's own, for re-exec.)
pidfile = env("GUNICORN_PIDFILE") or None
# Several instances on one host must not share gunicorn's control socket.
control_socket_disable = env("GUNICORN_CONTROL_SOCKET") is None
if not control_socket_disable:
    control_socket = env("GUNICORN_CONTROL_SOCKET")
