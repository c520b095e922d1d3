"""The API's documentation page: Swagger UI, vendored, started by a static script
(APIFlask's own page starts it with inline script, which the site's CSP forbids)."""

from flask import render_template

from . import bp


@bp.get("/docs")
@bp.doc(hide=True)
def docs():
    return render_template("api/docs.html")
