from decimal import Decimal

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    AnyOf,
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import HiddenInput

from .. import store_settings
from ..accounts import MAX_EMAIL, email_problem
from ..categories import MAX_NAME as MAX_CATEGORY_NAME
from ..forms import AmountField, WholeNumberField, storable, strip, whole_number
from ..inventory import MAX_STOCK
from ..models import OrderStatus, PaymentState
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


NO_CATEGORY = SelectChoice("", "No category")
CHOOSE_CATEGORY = "Choose one of your categories, or none."


def _category_id(value):
    """The category select's value as an id; "" (No category) is None. Raises ValueError
    for anything else that is not a whole number."""
    if value is None or value == "" or isinstance(value, int):
        return value or None
    number = whole_number(str(value), max_digits=12)
    if number is None:
        raise ValueError(CHOOSE_CATEGORY)
    return number


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
    low_stock_at = WholeNumberField(
        "Email me when down to", validators=[Optional(), NumberRange(min=0, max=MAX_STOCK)],
        description="Optional: we email you once each time the stock falls to this number or below (0: sold out).",
    )
    description = TextAreaField(
        "Description", filters=[strip], validators=[Optional(), Length(max=2000), storable]
    )
    # The view offers the vendor's own categories (offer_categories); any other id is refused.
    category_id = SelectField("Category", coerce=_category_id, choices=[NO_CATEGORY],
                              invalid_choice_message=CHOOSE_CATEGORY, invalid_value_message=CHOOSE_CATEGORY)
    # The stock the form was filled with (see inventory.set_stock).
    stock_seen = StringField(widget=HiddenInput())

    @property
    def seen_stock(self) -> int | None:
        """The stock the form was filled with; None if it did not say (or said nonsense)."""
        return whole_number(self.stock_seen.data)

    def details(self) -> Details:
        """The validated fields but stock (which moves through ``inventory``)."""
        return Details(self.name.data, self.price.data, self.mrp.data, self.description.data or "",
                       self.max_per_order.data, self.category_id.data, self.low_stock_at.data)

    def offer_categories(self, categories) -> None:
        """Let the vendor choose among ``categories`` (their own), or none."""
        self.category_id.choices = [NO_CATEGORY, *(SelectChoice(c.id, c.name) for c in categories)]

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


class CategoryForm(FlaskForm):
    """A category's name (whether the vendor has it already is categories.create's rule)."""

    name = StringField("Name", filters=[strip], validators=[
        DataRequired("Give the category a name."),
        Length(max=MAX_CATEGORY_NAME, message=f"At most {MAX_CATEGORY_NAME} characters."), storable])


class MoveForm(FlaskForm):
    """Move a category one place ``up`` or ``down``."""

    direction = StringField(validators=[InputRequired(), AnyOf(["up", "down"])])


class StatusForm(FlaskForm):
    """A known order state; whether the order may move there is orders.change_status's rule."""

    status = StringField(validators=[InputRequired(), AnyOf([s.value for s in OrderStatus])])



class HiddenForm(FlaskForm):
    """``yes`` hides a review, ``no`` shows it."""

    hidden = StringField(validators=[InputRequired(), AnyOf(["yes", "no"])])


class PaymentForm(FlaskForm):
    """A payment state the vendor may set; whether the order's payment may move there is payments'."""

    payment = StringField(validators=[
        InputRequired(), AnyOf([PaymentState.PAID.value, PaymentState.NOT_RECEIVED.value]),
    ])



# --- the order list's filters and the export --------------------------------------------

ALL = SelectChoice("", "All")
DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z"


class OrderFilterForm(FlaskForm):
    """Which orders the list (and the export) shows: by state and by payment. A GET form."""

    class Meta:
        csrf = False

    status = SelectField("Status", default="", choices=[
        ALL, *(SelectChoice(s.value, s.value.capitalize()) for s in OrderStatus)])
    payment = SelectField("Payment", default="", choices=[
        ALL, *(SelectChoice(s.value, s.value.replace("_", " ").capitalize()) for s in PaymentState)])

    def filters(self) -> dict[str, str]:
        """The filters chosen (for queries and for links that keep them)."""
        return {name: getattr(self, name).data for name in ("status", "payment") if getattr(self, name).data}


class ExportForm(OrderFilterForm):
    """The export's date range, in the merchant's days, both ends included; each end optional."""

    from_date = StringField("From", validators=[Optional(), Regexp(DATE, message="Use a date like 2026-04-01.")])
    to_date = StringField("To", validators=[Optional(), Regexp(DATE, message="Use a date like 2026-04-30.")])

    def _day(self, field):
        from datetime import date

        try:
            return date.fromisoformat(field.data) if field.data else None
        except ValueError:
            raise ValidationError("That day does not exist.") from None

    def validate_from_date(self, field):
        self._day(field)

    def validate_to_date(self, field):
        end = self._day(field)
        try:
            start = self._day(self.from_date)
        except ValidationError:
            return  # said next to the start
        if start and end and end < start:
            raise ValidationError("The range ends before it starts.")

    def days(self):
        return self._day(self.from_date), self._day(self.to_date)


# --- store settings ----------------------------------------------------------------


def _optional_text(value):
    """Stripped text, or None for nothing typed (an optional setting left empty)."""
    value = strip(value)
    if isinstance(value, str) and not value:
        return None
    return value


class Checkbox(BooleanField):
    """A checkbox: present with any value is on, absent is off (WTForms would read "false" as off)."""

    false_values = ()


def _fee(form, field) -> None:
    value = field.data
    if value is None:
        return
    if not value.is_finite():
        raise ValidationError("Enter an amount in rupees, like 40 or 49.50.")
    if value < 0:
        raise ValidationError("Cannot be negative: leave it empty for none.")
    if value > store_settings.MAX_AMOUNT:
        raise ValidationError(f"Must be at most {store_settings.MAX_AMOUNT:,}.")
    if value != value.quantize(Decimal("0.01")):
        raise ValidationError("Use at most two decimals (paise).")


class SettingsForm(FlaskForm):
    """The store's settings. Amounts may be empty (none); the rules that tie fields together
    are store_settings.check's."""

    store_name = StringField(
        "Store name", filters=[strip],
        validators=[DataRequired("A store name is required: 1–80 characters."), Length(max=80), storable],
    )
    email = EmailField(
        "Email for new orders", filters=[_optional_text],
        validators=[Optional(), Length(max=MAX_EMAIL)],
        description="Optional: we email you when an order arrives or a product's stock runs low.",
    )
    daily_summary = Checkbox(
        "Email me a summary of each day with orders",
        description="Sent after midnight: the day's orders, revenue and top products.",
    )
    whatsapp = StringField(
        "WhatsApp number", filters=[_optional_text], validators=[Optional()],
        description="Optional: customers can send you their order on WhatsApp.",
    )
    upi_id = StringField(
        "UPI ID", filters=[_optional_text], validators=[Optional()],
        description="Like yourname@okhdfcbank; needed to take UPI payments.",
    )
    accept_cod = Checkbox("Take cash on delivery")
    accept_upi = Checkbox("Take UPI payments")
    delivery_fee = AmountField("Delivery fee (₹)", places=2, validators=[Optional(), _fee],
                               description="Optional: empty for free delivery.")
    free_delivery_from = AmountField("Free delivery from (₹)", places=2, validators=[Optional(), _fee],
                                     description="Optional: orders of at least this much are delivered free.")
    min_order = AmountField("Minimum order (₹)", places=2, validators=[Optional(), _fee],
                            description="Optional: the least an order's items may cost, before delivery.")
    cod_fee = AmountField("Cash on delivery fee (₹)", places=2, validators=[Optional(), _fee],
                          description="Optional: added to orders paid in cash.")
    open = Checkbox("Store open", description="A closed store shows its page but takes no orders.")

    def validate_email(self, field):
        if field.data and (problem := email_problem(field.data)):
            raise ValidationError(problem)

    def validate_whatsapp(self, field):
        if field.data is None:
            return
        number = store_settings.mobile_e164(field.data)
        if number is None:
            raise ValidationError(store_settings.MOBILE_RULE)
        field.data = number

    def validate_upi_id(self, field):
        if field.data and (problem := store_settings.vpa_problem(field.data)):
            raise ValidationError(problem)

    def settings(self) -> store_settings.Settings:
        return store_settings.Settings(**{
            name: getattr(self, name).data for name in store_settings.Settings.__dataclass_fields__
        })
