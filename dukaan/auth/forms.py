from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, ValidationError

from ..accounts import MIN_PASSWORD, USERNAME_RULE, normalise_username, username_problem
from ..forms import storable, strip


def _lowercase(value):
    return normalise_username(value) if value is not None else value


class SignupForm(FlaskForm):
    username = StringField(
        "Username (your store link)",
        filters=[_lowercase],
        validators=[InputRequired()],
        description=USERNAME_RULE,
    )
    store_name = StringField(
        "Store name", filters=[strip],
        validators=[DataRequired("A store name is required: 1–80 characters."), Length(max=80), storable],
    )
    password = PasswordField(
        "Password", validators=[InputRequired(), Length(min=MIN_PASSWORD, max=200)]
    )
    confirm = PasswordField(
        "Confirm password",
        validators=[InputRequired(), EqualTo("password", message="The passwords do not match.")],
    )

    def validate_username(self, field):
        if problem := username_problem(field.data or ""):
            raise ValidationError(problem)


class LoginForm(FlaskForm):
    username = StringField(
        "Username", filters=[_lowercase], validators=[InputRequired(), storable]
    )
    password = PasswordField("Password", validators=[InputRequired()])
