"""The Dockerfile and the Compose file are valid, and describe the same
deployment as the native stack: one nginx config, one gunicorn config, one
set of environment variables."""

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import IN_CI

ROOT = Path(__file__).resolve().parents[2]


def _tool(name: str) -> str:
    venv_tool = ROOT / ".venv/bin" / name
    path = shutil.which(name) or (str(venv_tool) if venv_tool.exists() else None)
    if path is None:
        message = f"{name} is not installed (.ci/run installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def compose(tmp_path):
    """`docker-compose config` on a copy of the Compose file with the sample .env."""
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")

    def run(*args):
        return subprocess.run([_tool("docker-compose"), "-f", str(tmp_path / "docker-compose.yml"), *args],
                              capture_output=True, text=True, timeout=60)

    return run


def test_compose_file_is_valid(compose):
    result = compose("config", "-q")
    assert result.returncode == 0, result.stderr


def test_compose_web_tier_scales_and_redis_stays_private(compose):
    result = compose("config")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    web = _service(text, "web")
    assert "container_name" not in web
    assert "ports:" not in web, "a fixed host port would stop --scale web=3"
    assert "service_completed_successfully" in web, "web must wait for the one-shot migrations"
    assert "ports:" not in _service(text, "redis")
    assert "ports:" in _service(text, "nginx")
    assert "flask" in _service(text, "migrate") and "upgrade" in _service(text, "migrate")


def test_compose_runs_scalable_workers_one_beat_and_a_private_rabbitmq(compose):
    result = compose("config")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    worker, beat, rabbitmq = (_service(text, name) for name in ("worker", "beat", "rabbitmq"))
    assert "- wsgi:celery_app\n    - worker\n" in worker and "container_name" not in worker
    assert "- wsgi:celery_app\n    - beat\n" in beat
    assert "ports:" not in rabbitmq and "/var/lib/rabbitmq" in rabbitmq
    for name in ("web", "worker", "beat"):
        assert "CELERY_BROKER_URL: amqp://dukaan:" in _service(text, name)
    # Orders go through while RabbitMQ is down: the web tier does not wait for it.
    assert "rabbitmq" not in _service(text, "web").split("depends_on:")[1].split("environment:")[0]


def test_native_stack_starts_and_stops_the_worker_and_beat():
    stack = (ROOT / "scripts/stack").read_text()
    assert "start_celery worker" in stack and "start_celery beat" in stack
    assert 'stop_pid "celery worker"' in stack and 'stop_pid "celery beat"' in stack


def _service(config_text: str, name: str) -> str:
    """The block of one service in `docker-compose config` output."""
    lines = config_text.splitlines()
    start = lines.index(f"  {name}:")
    block = []
    for line in lines[start + 1:]:
        if line.startswith("  ") and not line.startswith("   "):
            break
        if not line.startswith(" "):
            break
        block.append(line)
    return "\n".join(block)


def test_dockerfile_passes_hadolint():
    result = subprocess.run([_tool("hadolint"), str(ROOT / "Dockerfile")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_gunicorn_as_non_root_with_a_healthcheck():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert "USER 10001" in dockerfile
    assert "HEALTHCHECK" in dockerfile and "/healthz" in dockerfile
    assert '"gunicorn", "--config", "gunicorn.conf.py"' in dockerfile
    # Dependencies get their own layer, before the code.
    assert dockerfile.index("COPY requirements.txt") < dockerfile.index("COPY dukaan")


def test_compose_and_native_stack_share_nginx_and_gunicorn_config():
    compose_file = (ROOT / "docker-compose.yml").read_text()
    stack = (ROOT / "scripts/stack").read_text()
    assert "./nginx/dukaan.conf.template:/etc/nginx/templates/" in compose_file
    assert "nginx/dukaan.conf.template" in stack
    assert "gunicorn.conf.py" in stack and "gunicorn.conf.py" in (ROOT / "Dockerfile").read_text()
    template = (ROOT / "nginx/dukaan.conf.template").read_text()
    for variable in ("DUKAAN_LISTEN", "DUKAAN_UPSTREAM_SERVERS", "DUKAAN_STATIC_ROOT", "DUKAAN_CACHE_PATH",
                     "DUKAAN_CACHE_REFRESH_KEY", "DUKAAN_ACCESS_LOG", "DUKAAN_MEDIA_ROOT"):
        assert "${" + variable + "}" in template
        assert variable in compose_file and variable in stack
    sample = (ROOT / ".env.example").read_text()
    for variable in ("SECRET_KEY", "POSTGRES_PASSWORD", "CACHE_REFRESH_KEY"):
        assert f"{variable}=" in sample
    for variable in ("DATABASE_URL", "REDIS_URL", "SHARED_CACHE_URL", "CACHE_REFRESH_KEY"):
        assert variable in compose_file and variable in stack


@pytest.mark.parametrize("key, accepted", [("a-long-random-key", True), ("", False)])
def test_nginx_refuses_an_empty_cache_key(tmp_path, key, accepted):
    """An empty key would let every request without the header skip (and refill) the storefront cache."""
    for folder in ("logs", "tmp", "cache"):
        (tmp_path / folder).mkdir()
    variables = {"DUKAAN_LISTEN": "127.0.0.1:1", "DUKAAN_UPSTREAM_SERVERS": "server 127.0.0.1:2;",
                 "DUKAAN_STATIC_ROOT": str(ROOT), "DUKAAN_CACHE_PATH": str(tmp_path / "cache"),
                 "DUKAAN_CACHE_REFRESH_KEY": key, "DUKAAN_ACCESS_LOG": str(tmp_path / "logs/access.log"),
                 "DUKAAN_MEDIA_ROOT": str(tmp_path / "media")}
    config = (ROOT / "nginx/dukaan.conf.template").read_text()
    for name, value in variables.items():
        config = config.replace("${" + name + "}", value)
    (tmp_path / "dukaan.conf").write_text(config)
    shutil.copy(ROOT / "nginx/native.conf.template", tmp_path / "nginx.conf")
    result = subprocess.run([_tool("nginx"), "-t", "-q", "-p", str(tmp_path), "-c", "nginx.conf"],
                            capture_output=True, text=True, timeout=30)
    assert (result.returncode == 0) == accepted, result.stderr
    if not accepted:
        assert 'conflicting parameter ""' in result.stderr


def test_gzip_static_copies_static_with_a_gzipped_twin_of_each_text_file(tmp_path):
    """Run as the nginx image runs it: POSIX sh, twice (a restart replaces the copy)."""
    env = {"PATH": os.environ["PATH"], "DUKAAN_STATIC_SOURCE": str(ROOT / "static"),
           "DUKAAN_STATIC_ROOT": str(tmp_path / "www")}
    for _ in range(2):
        result = subprocess.run([_tool("dash"), str(ROOT / "nginx/gzip-static.sh")], env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    served = tmp_path / "www/static"
    sources = [p for p in (ROOT / "static").rglob("*") if p.is_file()]
    assert sources
    for source in sources:
        copy = served / source.relative_to(ROOT / "static")
        assert copy.read_bytes() == source.read_bytes()
        twin = copy.with_name(copy.name + ".gz")
        if source.suffix in (".css", ".js", ".svg", ".html"):
            assert gzip.decompress(twin.read_bytes()) == source.read_bytes()
        else:
            assert not twin.exists()
    assert sorted(p.name for p in tmp_path.joinpath("www").iterdir()) == ["static"]


def test_photos_are_served_by_nginx_from_a_volume_the_app_and_workers_share():
    """In production gunicorn never serves a photo: nginx answers /media/p/ from the media
    volume, for a year; the uploads waiting for the job are not served at all."""
    compose_file = (ROOT / "docker-compose.yml").read_text()
    assert compose_file.count("- media:/app/media") == 2  # web and worker
    assert "- media:/srv/media:ro" in compose_file and "MEDIA_ROOT: /app/media" in compose_file
    template = (ROOT / "nginx/dukaan.conf.template").read_text()
    media = template[template.index("location ^~ /media/p/"):]
    assert "alias ${DUKAAN_MEDIA_ROOT}/p/;" in media
    assert 'Cache-Control "public, max-age=31536000, immutable"' in media[:media.index("\n    }")]
    assert "location ^~ /media/ {\n        return 404;" in template
    assert 'export MEDIA_ROOT=${MEDIA_ROOT:-$STACK_DIR/media}' in (ROOT / "scripts/stack").read_text()


def test_compose_nginx_runs_gzip_static_at_start():
    compose_file = (ROOT / "docker-compose.yml").read_text()
    assert "./nginx/gzip-static.sh:/docker-entrypoint.d/40-dukaan-gzip-static.sh:ro" in compose_file
    assert "DUKAAN_STATIC_SOURCE: /srv/static" in compose_file
    assert "./static:/srv/static:ro" in compose_file
    assert os.access(ROOT / "nginx/gzip-static.sh", os.X_OK)  # the entrypoint skips it otherwise


def test_compose_monitoring_profile_runs_prometheus_and_grafana_privately(compose):
    result = compose("--profile", "monitoring", "config")
    assert result.returncode == 0, result.stderr
    prometheus, grafana = _service(result.stdout, "prometheus"), _service(result.stdout, "grafana")
    for service in (prometheus, grafana):
        assert "profiles:\n    - monitoring" in service, "monitoring only when its profile is asked for"
    assert "ports:" not in prometheus
    assert "- 127.0.0.1:3000:3000/tcp" in grafana, "Grafana on the host's loopback only"
    assert "GF_SECURITY_ADMIN_PASSWORD: change-me-for-grafana" in grafana  # from .env
    assert "profiles:" not in _service(result.stdout, "web")


def test_prometheus_scrapes_each_web_container_and_the_dashboard_uses_real_metrics():
    import json
    import re

    scrape = (ROOT / "monitoring/prometheus.yml").read_text()
    assert "metrics_path: /metrics" in scrape
    assert 'names: ["web"]' in scrape and "type: A" in scrape and "port: 8000" in scrape
    declared = set(re.findall(r'"(dukaan_[a-z_]+)"', (ROOT / "dukaan/ops/metrics.py").read_text()))
    dashboard = json.loads((ROOT / "monitoring/grafana/dashboards/sale-day.json").read_text())
    used = {re.sub(r"_(bucket|sum|count)$", "", name)
            for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"dukaan_[a-z_]+", target["expr"])}
    assert used and used <= declared, used - declared
    provider = (ROOT / "monitoring/grafana/provisioning/dashboards/dukaan.yml").read_text()
    assert "path: /var/lib/grafana/dashboards" in provider
    compose_file = (ROOT / "docker-compose.yml").read_text()
    assert "./monitoring/grafana/dashboards:/var/lib/grafana/dashboards:ro" in compose_file
    assert "./monitoring/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in compose_file


def test_compose_replica_profile_streams_from_the_primary_privately(compose):
    """`--profile replica` adds a hot standby made by pg_basebackup from db, reachable only on
    the private network (Debian's docker-compose 1.x lists profiled services either way)."""
    result = compose("--profile", "replica", "config")
    assert result.returncode == 0, result.stderr
    replica, db = _service(result.stdout, "db-replica"), _service(result.stdout, "db")
    assert "profiles:\n    - replica" in replica and "ports:" not in replica
    assert "PRIMARY_HOST: db" in replica and "condition: service_healthy" in replica
    assert "/docker-entrypoint-initdb.d/10-replication.sh" in db
    # .env.example names no replica: the app reads from the primary alone.
    assert "DATABASE_REPLICA_URL: ''" in _service(result.stdout, "web")
    start = (ROOT / "postgres/replica-start.sh").read_text()
    assert "pg_basebackup" in start and " -R " in start and "hot_standby=on" in start
    for script in ("postgres/replica-start.sh", "postgres/primary-replication.sh"):
        assert os.access(ROOT / script, os.X_OK), script
        checked = subprocess.run(["sh", "-n", str(ROOT / script)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
