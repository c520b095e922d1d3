"""The access line written field by field is the JSON the app's other lines are, value for value."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from dukaan.ops import logs


@pytest.mark.parametrize("created", [0.0, 1_764_500_000.0, 1_764_500_000.0005, 1_764_500_000.9999,
                                     1_764_500_059.123456, 4_102_444_799.999])
def test_the_time_reads_as_datetimes_isoformat(created):
    expected = datetime.fromtimestamp(created, timezone.utc).isoformat(timespec="milliseconds")
    assert logs.iso_time(created) == expected


def test_the_time_moves_on_with_the_second():
    assert logs.iso_time(1_764_500_000.5).startswith("2025-11-30T10:53:20.500")
    assert logs.iso_time(1_764_500_001.25).startswith("2025-11-30T10:53:21.250")
    assert logs.iso_time(1_764_500_000.75).startswith("2025-11-30T10:53:20.750")  # a line from a thread late


@pytest.mark.parametrize(("method", "route", "status", "seconds", "vendor"), [
    ("GET", "/order/<slug>", 200, 0.000412, "ravi"),
    ("POST", None, 404, 1.5, None),
    ("PATCH", "/dashboard/products/<int:product_id>", 500, 0.1, 'a "quoted" \\ vendor'),
    ("GET", "/order/<slug>", 301, 12.0, "दुकान\n\t\u2028"),
    ("M-SEARCH", "/", 405, 0.0, ""),
])
def test_an_access_line_is_the_json_line_of_its_fields(method, route, status, seconds, vendor):
    line = logs.access_line(1_764_500_000.123, "INFO", method, route, status, seconds, vendor, "req-0001-abcdef")
    expected = logs.json_line(1_764_500_000.123, "INFO", "dukaan.access", f"{method} {route} {status}", {
        "request_id": "req-0001-abcdef", "method": method, "route": route, "status": status,
        "duration_ms": round(seconds * 1000, 2), "vendor": vendor})
    assert json.loads(line) == json.loads(expected)
    assert line == expected
    assert "\n" not in line
