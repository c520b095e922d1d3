from decimal import Decimal

from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, IntegerField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

MAX_PRICE = Decimal("99999999.99")
MAX_STOCK = 1_000_000


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _money(field) -> None:
    value = field.data
    if value is None:
        return
    if not value.is_finite():
        raise ValidationError("Enter an amount in rupees, like 249 or 249.50.")
    if value.as_tuple().exponent < -2:
        raise ValidationError("Use at most two decimals (paise).")
    if value <= 0:
        raise ValidationError("Must be more than zero.")
    if value > MAX_PRICE:
        raise ValidationError(f"Must be at most {MAX_PRICE:,}.")


class ProductForm(FlaskForm):
    """A product's details, as the edit form changes them."""

    name = StringField("Name", filters=[_strip], validators=[InputRequired(), Length(max=120)])
    price = DecimalField("Price (₹)", places=2, validators=[InputRequired()])
    mrp = DecimalField(
        "MRP (₹)", places=2, validators=[Optional()],
        description="Optional: the printed price, shown struck through.",
    )
    stock = IntegerField(
        "Stock", validators=[InputRequired(), NumberRange(min=0, max=MAX_STOCK)]
    )
    description = TextAreaField(
        "Description", filters=[_strip], validators=[Optional(), Length(max=2000)]
    )

    def apply_to(self, product) -> None:
        """Copy the validated fields onto ``product``."""
        product.name = self.name.data
        product.price = self.price.data
        product.mrp = self.mrp.data
        product.stock = self.stock.data
        product.description = self.description.data or ""

    def validate_price(self, field):
        _money(field)

    def validate_mrp(self, field):
        _money(field)
        price = self.price.data
        if field.data is not None and price is not None and price.is_finite() and field.data < price:
            raise ValidationError("MRP cannot be less than the price.")


class NewProductForm(ProductForm):
    available = BooleanField("Available to buy", default=True)

    def apply_to(self, product) -> None:
        super().apply_to(product)
        product.available = self.available.data


class AvailabilityForm(FlaskForm):
    """Empty ``available`` toggles; ``yes`` or ``no`` sets it."""

    available = StringField(validators=[Optional()])

    def validate_available(self, field):
        if field.data and field.data not in ("yes", "no"):
            raise ValidationError("Use yes or no.")


class StatusForm(FlaskForm):
    status = StringField(validators=[InputRequired()])
