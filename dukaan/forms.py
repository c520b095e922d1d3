"""Field filters and validators every blueprint's forms share."""

import re

from wtforms.validators import ValidationError

CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def strip(value):
    return value.strip() if isinstance(value, str) else value


def storable(form, field) -> None:
    """Refuse control characters: PostgreSQL cannot store NUL in text, and no
    name, address or description needs the others."""
    if isinstance(field.data, str) and CONTROL_CHARACTERS.search(field.data):
        raise ValidationError("Remove the invisible control characters (such as NUL) from this text.")
