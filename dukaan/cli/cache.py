"""``flask cache``: inspect and clear the store pages' caches."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from .. import jobs, storefront_cache
from ..extensions import cache
from ..storefront_cache import entries

# How long the command waits for nginx's copies to be fetched anew.
REFRESH_WAIT_SECONDS = 5


@click.group("cache", cls=AppGroup)
def cache_group() -> None:
    """Inspect and clear the storefront cache."""


@cache_group.command("clear")
@click.argument("slug", required=False)
def cache_clear(slug: str | None) -> None:
    """Clear one store's cached page (SLUG), or every store's."""
    try:
        storefront_cache.clear(slug.lower() if slug else None)
    except storefront_cache.CacheUnreachable as error:
        raise click.ClickException(str(error)) from None
    if slug:
        jobs.backend(current_app).join(REFRESH_WAIT_SECONDS)
        click.echo(f"Cleared the cached page of {slug.lower()} (the cache, every process and nginx).")
    else:
        click.echo("Cleared the storefront cache; nginx's copies expire by themselves.")


@cache_group.command("stats")
def cache_stats() -> None:
    """Show the cache backend and how many storefronts it holds."""
    backend = current_app.config["CACHE_TYPE"]
    click.echo(f"backend: {backend}")
    inner = cache.cache
    try:
        if backend == "RedisCache":
            client = inner._write_client
            pattern = f"{inner.key_prefix}{entries.entry_key('*')}"
            stores = sum(1 for _ in client.scan_iter(match=pattern, count=1000))
            info = client.info("stats")
            hits, misses = info.get("keyspace_hits", 0), info.get("keyspace_misses", 0)
            click.echo(f"cached storefronts: {stores}")
            click.echo(f"redis keyspace hits: {hits}, misses: {misses}")
        else:
            keys = [k for k in getattr(inner, "_cache", {}) if entries.entry_key("") in k]
            click.echo(f"cached storefronts: {len(keys)} (in this process only)")
    except Exception as error:
        raise click.ClickException(f"the cache is unreachable: {error}") from None
