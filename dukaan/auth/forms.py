from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, Optional, ValidationError

from ..accounts import (
    MAX_EMAIL,
    MAX_PASSWORD,
    PASSWORD_RULE,
    USERNAME_RULE,
    email_problem,
    normalise_username,
    username_problem,
)
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
    email = EmailField(
        "Email (optional)", filters=[strip],
        validators=[Optional(), Length(max=MAX_EMAIL)],
        description="We email you when an order arrives.",
    )
    # The rules themselves are accounts.password_problem's, checked as the account is made.
    password = PasswordField(
        "Password", validators=[InputRequired(), Length(max=MAX_PASSWORD)], description=PASSWORD_RULE
    )
    confirm = PasswordField(
        "Confirm password",
        validators=[InputRequired(), EqualTo("password", message="The passwords do not match.")],
    )

    def validate_username(self, field):
        if problem := username_problem(field.data or ""):
            raise ValidationError(problem)

    def validate_email(self, field):
        if field.data and (problem := email_problem(field.data)):
            raise ValidationError(problem)


class LoginForm(FlaskForm):
    username = StringField(
        "Username", filters=[_lowercase], validators=[InputRequired(), storable]
    )
    password = PasswordField("Password", validators=[InputRequired()])


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[InputRequired()])
    new_password = PasswordField(
        "New password", validators=[InputRequired(), Length(max=MAX_PASSWORD)], description=PASSWORD_RULE
    )
    confirm = PasswordField(
        "Confirm new password",
        validators=[InputRequired(), EqualTo("new_password", message="The passwords do not match.")],
    )
