"""Store settings (/dashboard/settings): every field validated next to itself, saved as typed
rules say, and shown on the store page at once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dukaan.extensions import db
from dukaan.models import Vendor
from helpers import HX, field_error, make_vendor

GOOD = {
    "store_name": "Ravi's Pickles", "email": "ravi@example.com", "daily_summary": "y", "whatsapp": "98765 43210",
    "upi_id": "ravi@okhdfcbank", "accept_cod": "y", "accept_upi": "y", "delivery_fee": "40",
    "free_delivery_from": "500", "min_order": "300", "cod_fee": "20", "open": "y",
}


def settings_of(app, vendor_id=1) -> dict:
    with app.app_context():
        vendor = db.session.get(Vendor, vendor_id)
        return {name: getattr(vendor, name) for name in (*GOOD, "username")}


def save(auth, htmx=False, **changes):
    data = {**GOOD, **changes}
    return auth.post("/dashboard/settings", {k: v for k, v in data.items() if v is not None}, htmx=htmx)


def test_settings_need_a_login(client):
    response = client.get("/dashboard/settings")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_the_settings_page_shows_every_field_with_the_current_values(app, client, vendor):
    html = client.get("/dashboard/settings").get_data(as_text=True)
    for name in GOOD:
        assert f'name="{name}"' in html, name
    assert 'value="Ravi&#39;s Store"' in html
    # A new store takes cash, not UPI, and is open.
    assert 'id="accept_cod" name="accept_cod" type="checkbox" value="y"' in html.replace("checked ", "")
    assert 'checked id="accept_cod"' in html and 'checked id="open"' in html
    assert 'checked id="accept_upi"' not in html
    assert 'href="/dashboard/settings" aria-current="page"' in html


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_saving_good_settings(app, auth, vendor, htmx):
    response = save(auth, htmx=htmx)
    if htmx:
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert html.lstrip().startswith('<form id="settings-form"') and "<html" not in html
        assert "Saved your store" in html
        assert "HX-Request" in response.headers["Vary"]
    else:
        assert response.status_code == 303
        assert response.headers["Location"] == "/dashboard/settings"
    assert settings_of(app) == {
        "store_name": "Ravi's Pickles", "email": "ravi@example.com", "daily_summary": True, "whatsapp": "+919876543210",
        "upi_id": "ravi@okhdfcbank", "accept_cod": True, "accept_upi": True,
        "delivery_fee": Decimal("40.00"), "free_delivery_from": Decimal("500.00"),
        "min_order": Decimal("300.00"), "cod_fee": Decimal("20.00"), "open": True, "username": "ravi",
    }


@pytest.mark.parametrize("typed", [
    "9876543210", "98765 43210", "+91 98765-43210", "09876543210", "919876543210", "+91-98765 43210",
    "(+91) 98765.43210", "९८७६५४३२१०",
])
def test_whatsapp_numbers_as_people_type_them_are_stored_in_e164(app, auth, vendor, typed):
    assert save(auth, whatsapp=typed).status_code == 303
    assert settings_of(app)["whatsapp"] == "+919876543210"


@pytest.mark.parametrize("field, value", [
    ("whatsapp", "12345"), ("whatsapp", "5876543210"), ("whatsapp", "+44 7911 123456"),
    ("whatsapp", "98765432101"), ("whatsapp", "call me"),
    ("upi_id", "ravi"), ("upi_id", "ravi@"), ("upi_id", "@okhdfcbank"), ("upi_id", "ravi@ok hdfc"),
    ("upi_id", "ra vi@okhdfcbank"), ("upi_id", "ravi@@bank"), ("upi_id", "r" * 100 + "@bank"),
    ("email", "not-an-email"),
    ("delivery_fee", "-1"), ("delivery_fee", "40.005"), ("delivery_fee", "forty"), ("delivery_fee", "٤٠"),
    ("free_delivery_from", "1e3"), ("min_order", "-0.01"), ("cod_fee", "NaN"), ("cod_fee", "99999999"),
    ("store_name", "   "), ("store_name", "x" * 81), ("store_name", "Ravi\x00"),
])
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_bad_field_is_422_next_to_it_and_nothing_is_lost(app, auth, vendor, field, value, htmx):
    before = settings_of(app)
    response = save(auth, htmx=htmx, **{field: value})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert field_error(html, field), f"no error next to {field}"
    assert ("<html" in html) is not htmx
    # Everything typed comes back, the bad value included (escaped).
    assert 'value="Ravi&#39;s Pickles"' in html or field == "store_name"
    assert 'value="ravi@okhdfcbank"' in html or field == "upi_id"
    assert 'value="500"' in html or field == "free_delivery_from"
    if field != "store_name":
        assert f'value="{value}"' in html
    assert settings_of(app) == before


def test_empty_amounts_mean_none(app, auth, vendor):
    assert save(auth, delivery_fee="", free_delivery_from=" ", min_order="", cod_fee="").status_code == 303
    saved = settings_of(app)
    assert [saved[k] for k in ("delivery_fee", "free_delivery_from", "min_order", "cod_fee")] == [None] * 4


def test_zero_amounts_are_kept(app, auth, vendor):
    assert save(auth, delivery_fee="0", cod_fee="0.00").status_code == 303
    assert (settings_of(app)["delivery_fee"], settings_of(app)["cod_fee"]) == (Decimal("0"), Decimal("0"))


def test_whatsapp_upi_and_email_may_be_empty_when_upi_is_off(app, auth, vendor):
    response = save(auth, whatsapp="", upi_id="", email="", accept_upi=None)
    assert response.status_code == 303
    saved = settings_of(app)
    assert (saved["whatsapp"], saved["upi_id"], saved["email"], saved["accept_upi"]) == (None, None, None, False)


@pytest.mark.parametrize("value", ["y", "on", "false", "0", "", "no"])
def test_a_checkbox_is_on_when_present_with_any_value(app, auth, vendor, value):
    assert save(auth, accept_cod=value, accept_upi=value, open=value).status_code == 303
    saved = settings_of(app)
    assert (saved["accept_cod"], saved["accept_upi"], saved["open"]) == (True, True, True)


def test_an_absent_checkbox_is_off(app, auth, vendor):
    assert save(auth, accept_cod=None, open=None).status_code == 303
    saved = settings_of(app)
    assert (saved["accept_cod"], saved["accept_upi"], saved["open"]) == (False, True, False)


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_store_needs_a_payment_method(app, auth, vendor, htmx):
    response = save(auth, htmx=htmx, accept_cod=None, accept_upi=None)
    assert response.status_code == 422
    assert "at least one way of paying" in field_error(response.get_data(as_text=True), "accept_cod")
    assert settings_of(app)["accept_cod"] is True


def test_upi_needs_a_upi_id(app, auth, vendor):
    response = save(auth, upi_id="", accept_upi="y")
    assert response.status_code == 422
    assert "UPI ID" in field_error(response.get_data(as_text=True), "upi_id")
    assert settings_of(app)["accept_upi"] is False


def test_settings_need_the_csrf_token(app, client, vendor):
    response = client.post("/dashboard/settings", data=GOOD)
    assert response.status_code == 400
    assert settings_of(app)["store_name"] == "Ravi's Store"


def test_a_vendor_changes_only_their_own_settings(app, auth, vendor):
    other = make_vendor(app, "meena", "Meena's Store")
    assert save(auth, store_name="Mine").status_code == 303
    assert settings_of(app, other)["store_name"] == "Meena's Store"
    assert settings_of(app, vendor)["store_name"] == "Mine"


def test_the_settings_page_over_htmx_is_the_form_alone(client, vendor):
    response = client.get("/dashboard/settings", headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.lstrip().startswith('<form id="settings-form"')


# --- the store page --------------------------------------------------------------------


def cached_entry(app, slug="ravi"):
    from dukaan.extensions import cache
    from dukaan.storefront_cache import entries

    with app.app_context():
        return cache.get(entries.entry_key(slug))


@pytest.mark.parametrize("change", [
    {"store_name": "Ravi & Sons"}, {"delivery_fee": "45"}, {"free_delivery_from": "600"},
    {"min_order": ""}, {"cod_fee": "25"}, {"accept_upi": None}, {"open": None},
])
def test_a_setting_the_store_page_shows_outdates_its_cached_copy(app, client, auth, vendor, change):
    assert save(auth).status_code == 303
    assert client.get("/order/ravi").status_code == 200
    assert cached_entry(app) is not None
    assert save(auth, **change).status_code == 303
    assert cached_entry(app) is None


@pytest.mark.parametrize("change", [{"whatsapp": "91234 56789"}, {"email": "new@example.com"}])
def test_a_setting_the_store_page_does_not_show_keeps_its_cached_copy(app, client, auth, vendor, change):
    assert save(auth).status_code == 303
    client.get("/order/ravi")
    assert save(auth, **change).status_code == 303
    assert cached_entry(app) is not None


def test_a_new_store_name_is_on_the_store_page_at_once(app, client, auth, vendor):
    assert "Ravi&#39;s Store" in client.get("/order/ravi").get_data(as_text=True)
    assert save(auth, store_name="Ravi & Sons").status_code == 303
    assert "Ravi &amp; Sons" in client.get("/order/ravi").get_data(as_text=True)
