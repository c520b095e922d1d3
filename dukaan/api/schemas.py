"""What the API reads and writes, as marshmallow schemas (the OpenAPI document is made from them)."""

from __future__ import annotations

import unicodedata

from apiflask import Schema
from apiflask.fields import DateTime, Email, String
from apiflask.validators import Length, Regexp
from marshmallow import ValidationError


class Text(String):
    """A string stripped of surrounding space, with no control characters (PostgreSQL cannot
    store NUL; nobody types the others)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
            raise ValidationError("Control characters are not allowed.")
        return text


# The document carries the pattern to apps, so it must read the same in JavaScript: no \Z,
# and (?![\s\S]) rather than $, which Python lets end before a trailing newline.
PHONE = Regexp(r"^\+?[0-9]{10,15}(?![\s\S])", error="A phone number of 10 to 15 digits, optionally after a +.")


# --- customers and tokens ---------------------------------------------------------


class CustomerIn(Schema):
    username = String(required=True, validate=Length(1, 100),
                      metadata={"description": "3–30 lowercase letters, digits and hyphens.",
                                "example": "asha-rao"})
    password = String(required=True, validate=Length(1, 1000),
                      metadata={"description": "At least 8 characters; not a common password.",
                                "example": "mango pickle season"})
    name = Text(required=True, validate=Length(1, 100), metadata={"example": "Asha Rao"})
    phone = String(required=True, validate=PHONE, metadata={"example": "9876543210"})
    email = Email(load_default=None, allow_none=True, validate=Length(max=254),
                  metadata={"example": "asha@example.com"})


class CustomerOut(Schema):
    username = String(required=True)
    name = String(required=True)
    phone = String(required=True)
    email = String(allow_none=True)


class TokenIn(Schema):
    username = String(required=True, validate=Length(1, 100), metadata={"example": "asha-rao"})
    password = String(required=True, validate=Length(1, 1000), metadata={"example": "mango pickle season"})


class TokenOut(Schema):
    token = String(required=True, metadata={"description": "Send it as `Authorization: Bearer <token>`."})
    expires_at = DateTime(required=True, metadata={
        "description": "When the token ends in any case; it also ends after 14 days unused."})


class PasswordIn(Schema):
    current_password = String(required=True, validate=Length(1, 1000))
    new_password = String(required=True, validate=Length(1, 1000))

