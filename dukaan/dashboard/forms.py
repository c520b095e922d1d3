from decimal import Decimal

from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import (
    AnyOf,
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import HiddenInput

from ..forms import AmountField, WholeNumberField, storable, strip, whole_number
from ..inventory import MAX_STOCK
from ..models import OrderStatus
from ..orders import MAX_QUANTITY
from ..products import MAX_PRICE, Details


def _money(field) -> None:
    value = field.data
    if value is None:
        return
    if not value.is_finite():
        raise ValidationError("Enter an amount in rupees, like 249 or 249.50.")
    if value <= 0:
        raise ValidationError("Must be more than zero.")
    if value > MAX_PRICE:
        raise ValidationError(f"Must be at most {MAX_PRICE:,}.")
    # Bounded above, so quantize cannot overflow; 120.000 is 120.00.
    if value != value.quantize(Decimal("0.01")):
        raise ValidationError("Use at most two decimals (paise).")


class ProductForm(FlaskForm):
    """A product's details, as the edit form changes them."""

    # DataRequired, not InputRequired: it sees the stripped name, so "   " is no name.
    name = StringField(
        "Name", filters=[strip], validators=[DataRequired(), Length(max=120), storable]
    )
    price = AmountField("Price (₹)", places=2, validators=[InputRequired()])
    mrp = AmountField(
        "MRP (₹)", places=2, validators=[Optional()],
        description="Optional: the printed price, shown struck through.",
    )
    stock = WholeNumberField(
        "Stock", validators=[InputRequired(), NumberRange(min=0, max=MAX_STOCK)]
    )
    max_per_order = WholeNumberField(
        "Most per order", validators=[Optional(), NumberRange(min=1, max=MAX_QUANTITY)],
        description="Optional: on a sale day, how many one customer may buy at once.",
    )
    description = TextAreaField(
        "Description", filters=[strip], validators=[Optional(), Length(max=2000), storable]
    )
    # The stock the form was filled with (see inventory.set_stock).
    stock_seen = StringField(widget=HiddenInput())

    @property
    def seen_stock(self) -> int | None:
        """The stock the form was filled with; None if it did not say (or said nonsense)."""
        return whole_number(self.stock_seen.data)

    def details(self) -> Details:
        """The validated fields but stock (which moves through ``inventory``)."""
        return Details(self.name.data, self.price.data, self.mrp.data, self.description.data or "",
                       self.max_per_order.data)

    def validate_price(self, field):
        _money(field)

    def validate_mrp(self, field):
        _money(field)
        price = self.price.data
        if field.data is not None and price is not None and price.is_finite() and field.data < price:
            raise ValidationError("MRP cannot be less than the price.")


class NewProductForm(ProductForm):
    available = BooleanField("Available to buy", default=True)


class AvailabilityForm(FlaskForm):
    """Empty ``available`` toggles; ``yes`` or ``no`` sets it."""

    available = StringField(validators=[Optional()])

    def validate_available(self, field):
        if field.data and field.data not in ("yes", "no"):
            raise ValidationError("Use yes or no.")


class StatusForm(FlaskForm):
    """A known order state; whether the order may move there is orders.change_status's rule."""

    status = StringField(validators=[InputRequired(), AnyOf([s.value for s in OrderStatus])])
