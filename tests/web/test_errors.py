"""Errors in the client's language: JSON for the API and JSON clients, the HTML page elsewhere."""

import pytest


@pytest.mark.parametrize("path, headers", [
    ("/api/v1/nothing", {}),
    ("/api/v1/nothing", {"Accept": "text/html"}),
    ("/no-such-page", {"Accept": "application/json"}),
])
def test_json_errors_for_the_api_and_json_clients(client, path, headers):
    response = client.get(path, headers=headers)
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.json["status"] == 404
    assert response.json["error"] == "Not Found"
    assert "not found" in response.json["message"].lower()


@pytest.mark.parametrize("accept", [None, "*/*", "text/html,application/xhtml+xml,*/*;q=0.8",
                                    "application/json;q=0.5, text/html"])
def test_html_errors_for_browsers_and_everyone_else(client, accept):
    response = client.get("/no-such-page", headers={"Accept": accept} if accept else {})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "<html" in response.get_data(as_text=True)


def test_a_405_keeps_its_allow_header_in_json(client):
    response = client.delete("/order/ravi", headers={"Accept": "application/json"})
    assert response.status_code == 405
    assert response.json["status"] == 405
    assert "GET" in response.headers["Allow"]


def test_an_expired_form_is_told_in_json_too(app, client):
    response = client.post("/login", data={"username": "ravi", "password": "x"},
                           headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.json["error"] == "Form expired"


def test_a_crash_is_a_json_500_for_json_clients(app, client):
    app.testing = False  # let the error handler answer, as in production

    @app.get("/boom")
    def boom():
        raise RuntimeError("bug")

    response = client.get("/boom", headers={"Accept": "application/json"})
    assert response.status_code == 500
    assert response.json == {"status": 500, "error": "Internal Server Error",
                             "message": response.json["message"]}
    assert "bug" not in response.json["message"]
