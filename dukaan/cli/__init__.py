"""``flask`` commands for operators.

``with_appcontext`` (and AppGroup for groups) because only the ``flask``
script pushes an app context by itself; ``app.cli``, as the test runner and
any embedding code invoke it, does not.
"""

from flask import Flask


def register(app: Flask) -> None:
    from .cache import cache_group
    from .demo import create_vendor, seed_demo
    from .jobs import jobs_group

    app.cli.add_command(create_vendor)
    app.cli.add_command(seed_demo)
    app.cli.add_command(cache_group)
    app.cli.add_command(jobs_group)
