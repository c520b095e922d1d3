import re
import unicodedata

from werkzeug.datastructures import MultiDict
from wtforms import EmailField, Form, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, Optional, Regexp, ValidationError

from ..accounts import MAX_EMAIL, email_problem
from ..forms import storable, strip
from ..orders import MAX_QUANTITY
from ..payments import UTR_RULE
from ..pricing import PAYMENT_METHODS
from ..reviews import MAX_TEXT

QTY_PREFIX = "qty-"
# A store page sends one quantity per product on sale, zeros included.
MAX_QUANTITY_FIELDS = 5000
PRODUCT_ID = re.compile(r"[0-9]{1,12}")


def _phone_digits(value):
    # People type phone numbers with spaces, dashes and brackets, and some
    # keyboards type digits in their own script (९८७…): keep ASCII digits.
    if not isinstance(value, str):
        return value
    value = re.sub(r"[\s\-().]", "", value)
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in value)


class CheckoutForm(Form):
    """The customer's details. A plain WTForms form: the storefront carries no
    CSRF token, so that its page is the same for every visitor; the view
    checks the request's origin instead."""

    # DataRequired, not InputRequired: a name of only spaces is stripped to nothing.
    name = StringField(
        "Your name", filters=[strip],
        validators=[DataRequired(), Length(max=100), storable],
    )
    phone = StringField(
        "Phone", filters=[_phone_digits],
        validators=[
            InputRequired(),
            Regexp(r"\+?[0-9]{10,15}\Z", message="Enter a phone number of 10 to 15 digits."),
        ],
    )
    address = TextAreaField(
        "Delivery address", filters=[strip],
        validators=[DataRequired(), Length(max=500), storable],
    )
    email = EmailField(
        "Email (optional)", filters=[strip], validators=[Optional(), Length(max=MAX_EMAIL)],
        description="We email you when the store confirms, ships or delivers your order.",
    )
    # Among the store's methods (orders.payment_for); its choices are the store's (set_methods).
    payment = RadioField(
        "How you will pay", choices=[], validate_choice=False,
        validators=[Optional(), AnyOf(list(PAYMENT_METHODS), message="Choose cash on delivery or UPI.")],
    )
    order_token = HiddenField(
        validators=[Optional(), Regexp(r"[A-Za-z0-9-]{1,64}\Z", message="Reload the page and try again.")]
    )

    def validate_email(self, field):
        if field.data and (problem := email_problem(field.data)):
            raise ValidationError(problem)


class UtrForm(Form):
    """The UPI reference (UTR) of a payment, from the customer's UPI app."""

    utr = StringField(
        "UPI reference (UTR)", filters=[strip],
        validators=[InputRequired(UTR_RULE), Regexp(r"[0-9]{12}\Z", message=UTR_RULE)],
        description="The 12-digit number your UPI app shows after paying.",
    )


RATING_RULE = "Choose a rating from 1 to 5."


class ReviewForm(Form):
    """A review of one product of a delivered order; ``product_id`` offers the lines not yet reviewed."""

    product_id = SelectField(
        "Product", choices=[], validate_choice=False,
        validators=[InputRequired("Choose what you are reviewing."),
                    Regexp(r"[0-9]{1,12}\Z", message="Choose what you are reviewing.")],
    )
    rating = RadioField(
        "Rating", choices=[SelectChoice(str(n), f"{n} ★") for n in range(5, 0, -1)], validate_choice=False,
        validators=[InputRequired(RATING_RULE), AnyOf([str(n) for n in range(1, 6)], message=RATING_RULE)],
    )
    text = TextAreaField(
        "Your review (optional)", filters=[strip], validators=[Optional(), Length(max=MAX_TEXT), storable],
    )


def set_methods(form: CheckoutForm, terms) -> None:
    """Offer the store's payment methods, the first chosen unless the customer chose."""
    form.payment.choices = [
        SelectChoice(m, PAYMENT_METHODS[m] + (f" (+₹{terms.cod_fee:,.2f})" if m == "cod" and terms.cod_fee else ""))
        for m in terms.methods
    ]
    if form.payment.data not in terms.methods:
        form.payment.data = terms.methods[0] if terms.methods else None


def parse_quantities(formdata: MultiDict) -> tuple[dict[int, int], dict[int, str], dict[str, str]]:
    """Read the ``qty-<product id>`` fields.

    Returns the wanted units by product id (only those above zero), errors by
    product id, and errors about the fields themselves (keyed by field name).
    """
    wanted: dict[int, int] = {}
    errors: dict[int, str] = {}
    malformed: dict[str, str] = {}
    if sum(1 for key in formdata if key.startswith(QTY_PREFIX)) > MAX_QUANTITY_FIELDS:
        # More than any store page has: refused before it costs a query.
        return {}, {}, {QTY_PREFIX: "This order has more quantities than any store page. Reload the page."}
    for key in formdata:
        if not key.startswith(QTY_PREFIX):
            continue
        raw_id = key[len(QTY_PREFIX):]
        if not PRODUCT_ID.fullmatch(raw_id):
            malformed[key] = "This is not a product of this store."
            continue
        product_id = int(raw_id)
        raw = formdata.get(key, "").strip()
        if raw == "":
            continue
        if not re.fullmatch(r"[0-9]{1,6}", raw) or int(raw) > MAX_QUANTITY:
            errors[product_id] = f"Enter a number from 0 to {MAX_QUANTITY}."
            continue
        if int(raw) > 0:
            wanted[product_id] = int(raw)
    return wanted, errors, malformed


def typed_quantities(formdata: MultiDict) -> dict[int, str]:
    """The ``qty-<product id>`` fields as typed, to put back in a rejected form."""
    return {
        int(key[len(QTY_PREFIX):]): value
        for key, value in formdata.items()
        if key.startswith(QTY_PREFIX) and PRODUCT_ID.fullmatch(key[len(QTY_PREFIX):])
    }
