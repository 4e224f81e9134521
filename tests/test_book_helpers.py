"""The chapters' small helpers (icl_book.book): what a reader sees instead of a raw dictionary."""

from icl_book.book import settings_table


def test_settings_table_groups_by_prefix_and_shortens_long_lists():
    table = settings_table({"grid_Ns": list(range(2, 102, 2)), "grid_d": 20, "peak_lr": 0.01, "seed": 0},
                           {"grid": "heat map", "peak": "peak"}).data.splitlines()
    assert table[:2] == ["| experiment | settings |", "|---|---|"]
    assert table[2] == "| heat map | Ns = 2, 4, 6, …, 100 (50 values); d = 20 |"
    assert table[3] == "| peak | lr = 0.01 |"
    assert table[4] == "| every experiment | seed = 0 |"


def test_settings_table_prefers_the_longest_prefix():
    table = settings_table({"few_many_N": 100, "few_N": 3}, {"few": "few", "few_many": "both"}).data
    assert "| both | N = 100 |" in table and "| few | N = 3 |" in table
