"""The API's frame: its OpenAPI 3.1 document, its docs page under the site's CSP, JSON errors
under /api and the site's HTML errors everywhere else."""

import re

import pytest

from dukaan import CONTENT_SECURITY_POLICY


def test_the_document_is_openapi_3_1_and_describes_only_the_api(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    spec = response.json
    assert spec["openapi"] == "3.1.0"
    assert spec["info"]["title"] == "Dukaan customer API"
    assert all(path.startswith("/api/v1/") for path in spec.get("paths", {}))
    assert "/api/v1/docs" not in spec.get("paths", {})


def test_the_docs_page_runs_vendored_swagger_ui_under_the_strict_csp(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    html = response.get_data(as_text=True)
    # No inline script or style: every script has a src on this site, nothing from a CDN.
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "<style" not in html and "style=" not in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("swagger-ui-5.35.0-bundle.js" in a for a in assets)
    assert any("swagger-ui-5.35.0.css" in a for a in assets)
    for asset in assets:
        assert asset.startswith("/"), asset
        if asset.startswith("/static/"):
            with client.get(asset) as served:
                assert served.status_code == 200, asset
    assert 'data-spec-url="/api/v1/openapi.json"' in html


@pytest.mark.parametrize("method, path, status", [
    ("get", "/api/v1/nothing", 404),
    ("get", "/api/v1/", 404),
    ("post", "/api/v1/docs", 405),
    ("delete", "/api/v1/openapi.json", 405),
])
def test_every_error_under_the_api_is_json(client, method, path, status):
    response = getattr(client, method)(path, headers={"Accept": "text/html"})
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert response.json["status"] == status
    assert response.json["message"]


def test_the_site_keeps_its_html_error_pages(client):
    response = client.get("/dashboard/nothing-here")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "<html" in response.get_data(as_text=True)


def test_app_level_routes_stay_out_of_the_document(client):
    paths = client.get("/api/v1/openapi.json").json.get("paths", {})
    assert not any(path in paths for path in ("/livez", "/healthz", "/login", "/order/{slug}"))
