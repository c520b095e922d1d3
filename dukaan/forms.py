"""What every blueprint's forms share: text filters and validators, and strict numbers.

Numbers typed by people are read in ASCII digits only, here and nowhere else:
``str.isdigit`` and ``int`` take superscripts and other scripts' digits
("²", "٣"), which then either fail later (a 500) or mean something nobody saw.
"""

import re
import unicodedata

from wtforms import DecimalField, IntegerField
from wtforms.validators import ValidationError

CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
WHOLE = re.compile(r"[0-9]+")
SIGNED_WHOLE = re.compile(r"\s*-?[0-9]+\s*")
AMOUNT = re.compile(r"\s*-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*")


def strip(value):
    """Trim spaces, and the invisible format characters (zero-width spaces and joiners)
    that would make a name of nothing look like a name."""
    if not isinstance(value, str):
        return value
    start, end = 0, len(value)
    while start < end and _blank(value[start]):
        start += 1
    while end > start and _blank(value[end - 1]):
        end -= 1
    return value[start:end]


def _blank(character: str) -> bool:
    return character.isspace() or unicodedata.category(character) == "Cf"


def storable(form, field) -> None:
    """Refuse control characters: PostgreSQL cannot store NUL in text, and no
    name, address or description needs the others."""
    if isinstance(field.data, str) and CONTROL_CHARACTERS.search(field.data):
        raise ValidationError("Remove the invisible control characters (such as NUL) from this text.")


def whole_number(text: str | None, max_digits: int = 9) -> int | None:
    """``text`` as a whole number of at most ``max_digits`` ASCII digits (no sign), or None."""
    text = (text or "").strip()
    if not WHOLE.fullmatch(text) or len(text) > max_digits:
        return None
    return int(text)


class _Strict:
    """A number field that reads only what ``pattern`` matches, before WTForms' own parsing."""

    pattern: re.Pattern
    message: str

    def process_formdata(self, valuelist):
        if valuelist and valuelist[0].strip() and not self.pattern.fullmatch(valuelist[0]):
            self.data = None
            raise ValueError(self.message)
        super().process_formdata(valuelist)


class WholeNumberField(_Strict, IntegerField):
    """An IntegerField that reads ASCII digits only (an optional minus for its range check to refuse)."""

    pattern, message = SIGNED_WHOLE, "Enter a whole number in the digits 0–9."


class AmountField(_Strict, DecimalField):
    """A DecimalField that reads ASCII digits and one decimal point only."""

    pattern, message = AMOUNT, "Enter an amount in rupees, like 249 or 249.50."
