"""The API against its own OpenAPI document: the document is valid OpenAPI 3.1, and schemathesis
sends every operation requests generated from it (valid and not) and checks each answer: never
a server error, a status code, content type, headers and body the document declares."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from helpers import FIGURES, api_token, bearer, make_app, make_product, make_vendor

SPEC = "/api/v1/openapi.json"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
# Enough to reach every branch of the schemas' validation, few enough for the fast tier.
EXAMPLES = 25

# Cases run, by operation and by status code.
ran: dict[str, dict[int, int]] = {}


def test_the_document_is_valid_openapi_3_1(client):
    document = client.get(SPEC).json
    assert document["openapi"].startswith("3.1.")
    validate(document)  # raises OpenAPIValidationError
    paths = document["paths"]
    assert {"/api/v1/orders", "/api/v1/orders/{ref}", "/api/v1/carts", "/api/v1/stores/{slug}/products"} <= set(paths)
    assert "Idempotency-Key" in {p["name"] for p in paths["/api/v1/orders"]["post"]["parameters"]}


def test_the_validator_is_not_vacuous(client):
    document = client.get(SPEC).json
    document["paths"]["/api/v1/orders"]["post"]["responses"]["201"] = {"content": {}}  # no description
    with pytest.raises(OpenAPIValidationError):
        validate(document)


@pytest.fixture
def shop(app):
    """A store to browse and order from."""
    vendor = make_vendor(app)
    for name, stock in (("Mango pickle", 10), ("Masala chai", 0), ("Papad", 3)):
        make_product(app, vendor, name, "120.00", stock)


@pytest.fixture
def logged_in(client, shop) -> dict[str, str]:
    """A customer's bearer token, as a header; they have a cart (1) holding a unit and an order."""
    token = bearer(api_token(client))
    assert client.post("/api/v1/carts", json={"store": "ravi"}, headers=token).json["id"] == 1
    assert client.put("/api/v1/carts/1/lines/1", json={"quantity": 1}, headers=token).status_code == 200
    placed = client.post("/api/v1/orders", headers={**token, "Idempotency-Key": "first"},
                         json={"store": "ravi", "lines": [{"product_id": 3, "quantity": 1}], "address": "Pune"})
    assert placed.status_code == 201
    return token


@pytest.fixture(scope="module", autouse=True)
def _count_cases():
    yield
    if ran:
        by_class: dict[str, int] = {}
        for statuses in ran.values():
            for status, count in statuses.items():
                by_class[f"{status // 100}xx"] = by_class.get(f"{status // 100}xx", 0) + count
        answers = ", ".join(f"{count} {name}" for name, count in sorted(by_class.items()))
        FIGURES.append(f"schemathesis: {sum(by_class.values())} cases checked over {len(ran)} API operations "
                       f"({answers})")


def _ours(value, product=False):
    """The store's cart 1 or one of its products 1-3 for a whole number the document allows."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return value
    return 1 + value % 3 if product else 1


def aim_at_the_shop(case) -> None:
    """Send the case to the store that exists, its products and the customer's cart, where the
    generated values have the right type: random slugs and ids stop at "no such store", and
    the run should reach the carts and orders behind it."""
    path = case.path_parameters or {}
    if isinstance(path.get("slug"), str):
        path["slug"] = "ravi"
    if "cart_id" in path:
        path["cart_id"] = _ours(path["cart_id"])
    if "product_id" in path:
        path["product_id"] = _ours(path["product_id"], product=True)
    body = case.body
    if isinstance(body, dict):
        if isinstance(body.get("store"), str):
            body["store"] = "ravi"
        if "cart" in body:
            body["cart"] = _ours(body["cart"])
        for line in body.get("lines") if isinstance(body.get("lines"), list) else ():
            if isinstance(line, dict) and "product_id" in line:
                line["product_id"] = _ours(line["product_id"], product=True)


# The document alone, read once from an app of its own; each operation's test sends its
# requests to the test's app (a fresh database).
schema = schemathesis.openapi.from_wsgi(SPEC, make_app("sqlite://", None))


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_every_operation_keeps_to_the_document(case, app, logged_in):
    statuses = ran.setdefault(case.operation.label, {})
    if sum(statuses.values()) % 2:
        aim_at_the_shop(case)
    # Every request carries a live token; the tests of each resource check what happens without one.
    response = case.call_and_validate(headers=logged_in, checks=CHECKS, app=app)
    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

