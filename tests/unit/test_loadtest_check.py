"""The load test's split of table scans: which tables' scans on the primary count as reads only,
and the range it gives for the primary's share of read scans."""

from scripts.loadtest_check import during, only_read, split_report, statements_report

# (the table whose foreign key it is, the table it points to), as in the app's schema
KEYS = [("products", "categories"), ("products", "vendors"), ("orders", "vendors"), ("order_lines", "orders"),
        ("order_lines", "products"), ("reviews", "order_lines"), ("reviews", "products"),
        ("categories", "vendors"), ("cart_lines", "carts"), ("cart_lines", "products")]


def test_a_table_no_write_reached_is_read_only():
    # scans, rows inserted, updated, deleted
    primary = {"reviews": [10, 0, 0, 0], "categories": [5, 0, 0, 0], "products": [50, 0, 5, 0],
               "vendors": [30, 0, 3, 0], "orders": [20, 3, 0, 0], "order_lines": [8, 6, 0, 0]}
    read = only_read(primary, KEYS)
    assert read == {"reviews"}, "categories: products, which points to it, was updated"


def test_a_table_pointed_to_by_new_rows_is_also_written():
    primary = {"vendors": [4, 0, 0, 0], "orders": [2, 1, 0, 0]}
    assert only_read(primary, KEYS, locked=frozenset()) == set(), "the new order's vendor was checked by a scan"


def test_a_delete_reaches_the_tables_that_point_to_it():
    primary = {"carts": [5, 0, 0, 1], "cart_lines": [5, 0, 0, 0], "categories": [1, 0, 0, 0]}
    assert only_read(primary, KEYS, locked=frozenset()) == {"categories"}


def test_a_locked_table_is_never_read_only():
    assert only_read({"products": [9, 0, 0, 0]}, KEYS) == set()
    assert only_read({"products": [9, 0, 0, 0]}, KEYS, locked=frozenset()) == {"products"}


def test_the_read_share_is_a_range_from_the_certain_reads_to_every_scan():
    primary = {"reviews": [10, 0, 0, 0], "orders": [90, 2, 0, 0]}
    replica = {"reviews": [100, 0, 0, 0], "products": [200, 0, 0, 0]}
    lines = split_report(primary, replica, KEYS)
    assert lines[0] == ("table scans during the run: primary 100, replica 300 (the primary's share 25.0%, "
                        "writes included)")
    assert any(line.split() == ["reviews", "10", "/", "100", "(9.1%)", "reads", "only"] for line in lines)
    assert any(line.split() == ["orders", "90", "/", "0", "(100.0%)", "also", "written"] for line in lines)
    assert lines[-1].startswith("reads only: the primary's share is at least 3.2% (its 10 scans")
    assert "at most 25.0%" in lines[-1]


def test_the_run_counts_from_the_snapshot():
    assert during({"orders": [12, 3, 1, 0], "new": [2, 1, 0, 0]}, {"orders": [10, 1, 1, 0]}) == {
        "orders": [2, 2, 0, 0], "new": [2, 1, 0, 0]}


def test_the_statement_split_is_of_the_run_alone():
    before = {"primary read": 50.0, "replica read": 100.0, "primary write": 10.0}
    now = {"primary read": 150.0, "replica read": 1000.0, "primary write": 80.0}
    line = statements_report(now, before)
    assert "primary 100, replica 900 (the primary's share 10.0%)" in line
    assert "on the primary 70" in line


def test_the_wal_positions_asked_are_apart_from_the_reads_and_what_counting_them_would_make():
    before = {"primary read": 0.0, "replica read": 0.0, "primary position": 0.0}
    now = {"primary read": 100.0, "replica read": 800.0, "primary position": 50.0, "replica position": 50.0}
    line = statements_report(now, before)
    assert "primary 100, replica 800 (the primary's share 11.1%)" in line
    assert "primary 50, replica 50 (counted as reads, the primary's share would be 15.0%)" in line
