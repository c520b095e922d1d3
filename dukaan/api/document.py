"""Touches to the generated OpenAPI document, so that it says exactly what the API does."""

from __future__ import annotations

from . import schemas

BODYLESS = ("204", "304")
# Rules across a schema's fields, which marshmallow checks in code, in JSON Schema's words.
ACROSS_FIELDS = {"OrderIn": schemas.OrderIn.JSON_SCHEMA}


def finish(spec: dict) -> dict:
    """Request bodies are required (an empty one is a 422); an operation that reads JSON can
    answer 400 (not JSON at all); 204 and 304 carry no body; rules across fields are said."""
    for name, rules in ACROSS_FIELDS.items():
        spec.get("components", {}).get("schemas", {}).get(name, {}).update(rules)
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if "requestBody" in operation:
                operation["requestBody"]["required"] = True
                responses.setdefault("400", {
                    "description": "The body is not JSON",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorSchema"}}},
                })
            for code in BODYLESS:
                if code in responses:
                    responses[code].pop("content", None)
    return spec
