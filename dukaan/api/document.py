"""Touches to the generated OpenAPI document, so that it says exactly what the API does."""

from __future__ import annotations

BODYLESS = ("204", "304")


def finish(spec: dict) -> dict:
    """Request bodies are required (an empty one is a 422); an operation that reads JSON can
    answer 400 (not JSON at all); 204 and 304 carry no body."""
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
