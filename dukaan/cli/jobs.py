"""``flask jobs``: what waits for the workers, handing the outbox over by hand, and the daily
summaries (beat sends them; without a broker, run ``flask jobs daily-summaries`` from cron)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup
from kombu.utils.url import maybe_sanitize_url

from .. import jobs
from ..jobs import mail, outbox


@click.group("jobs", cls=AppGroup)
def jobs_group() -> None:
    """Inspect the background jobs."""


@jobs_group.command("status")
def jobs_status() -> None:
    """Print the broker's queue depth, the outbox backlog and the age of its oldest entry."""
    broker = current_app.config["CELERY_BROKER_URL"]
    unreachable = None
    if broker:
        click.echo(f"broker: {maybe_sanitize_url(broker)}")
        try:
            click.echo(f"queue depth: {outbox.carrier().depth()}")
        except outbox.CarrierDown as error:
            unreachable = str(error)
            click.echo("queue depth: unknown (the broker does not answer)")
    else:
        click.echo("broker: none (outbox jobs run in the web processes)")
    count, age = outbox.backlog()
    click.echo(f"outbox backlog: {count}")
    click.echo(f"oldest entry: {'-' if age is None else f'{age:.1f} s'}")
    if unreachable:
        raise click.ClickException(unreachable)


@jobs_group.command("sweep")
def jobs_sweep() -> None:
    """Hand every outbox entry to the workers now (beat does this every few seconds)."""
    handed = outbox.hand_over()
    count, _ = outbox.backlog()
    click.echo(f"handed over: {handed}; left in the outbox: {count}")
    if count:
        raise click.ClickException("the broker did not take every job (see the log)")


@jobs_group.command("daily-summaries")
@click.option("--day", default=None, metavar="YYYY-MM-DD",
              help="The merchants' day to summarise (default: yesterday in DISPLAY_TIMEZONE).")
def jobs_daily_summaries(day: str | None) -> None:
    """Ask for each vendor's summary of a day (beat does this every hour; each is sent once).

    The jobs are handed over before the command ends: to the workers, or with no broker
    run here (it waits for them), so that a command run from cron sends them."""
    from datetime import date

    if day is not None:
        try:
            date.fromisoformat(day)
        except ValueError:
            raise click.BadParameter("use a date like 2026-11-30", param_hint="--day") from None
    click.echo(f"summaries asked for: {mail.daily_summaries(day)}")
    outbox.hand_over()
    if not current_app.config["CELERY_BROKER_URL"] and not jobs.backend(current_app).join(300):
        raise click.ClickException("the summaries did not finish within 5 minutes (see the log)")
