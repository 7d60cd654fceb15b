import math

import duckdb
import numpy as np
import pandas as pd
import pytest
from mlxtend.frequent_patterns import association_rules, fpgrowth

from kassa.central.reporting.warehouse import basket


def connect(baskets: dict[int, list[int]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE b (basket_id BIGINT, product_id INTEGER)")
    rows = [(b, p) for b, products in baskets.items() for p in products]
    if rows:
        con.executemany("INSERT INTO b VALUES (?, ?)", rows)
    return con


def rules(con, table="r") -> dict[tuple, tuple]:
    return {(tuple(a), c): (s, cf, lift, n)
            for a, c, s, cf, lift, n in con.execute(f"FROM {table}").fetchall()}


# Five baskets: product 1 in 4 of them, 2 and 3 in 3, {1,2} and {1,3} in 3, {2,3} and
# {1,2,3} in 2, product 4 once.
SMALL = {1: [1, 2, 3], 2: [1, 2], 3: [1, 3], 4: [1, 2, 3], 5: [4]}


def test_hand_computed_support_confidence_lift():
    con = connect(SMALL)
    n = basket.mine_rules(con, "b", "r", min_support=0.4, min_confidence=0.0)
    got = rules(con)
    assert n == len(got) == 9
    expected = {  # (support, confidence, lift, baskets) worked out by hand, N = 5
        ((1,), 2): (3 / 5, 3 / 4, (3 / 4) / (3 / 5), 3),
        ((2,), 1): (3 / 5, 1.0, 1 / (4 / 5), 3),
        ((1,), 3): (3 / 5, 3 / 4, 1.25, 3),
        ((3,), 1): (3 / 5, 1.0, 1.25, 3),
        ((2,), 3): (2 / 5, 2 / 3, 10 / 9, 2),
        ((3,), 2): (2 / 5, 2 / 3, 10 / 9, 2),
        ((1, 2), 3): (2 / 5, 2 / 3, 10 / 9, 2),
        ((1, 3), 2): (2 / 5, 2 / 3, 10 / 9, 2),
        ((2, 3), 1): (2 / 5, 1.0, 1.25, 2),
    }
    assert got.keys() == expected.keys()
    for key, values in expected.items():
        assert got[key][3] == values[3]
        assert got[key][:3] == pytest.approx(values[:3], abs=1e-12)


def test_output_columns_and_types():
    con = connect(SMALL)
    basket.mine_rules(con, "b", "r", min_support=0.4, min_confidence=0.0)
    described = [(name, kind) for name, kind, *_ in con.execute("DESCRIBE r").fetchall()]
    assert described == [("antecedent", "INTEGER[]"), ("consequent", "INTEGER"),
                         ("support", "DOUBLE"), ("confidence", "DOUBLE"), ("lift", "DOUBLE"),
                         ("baskets", "BIGINT")]


def test_confidence_filter_and_duplicates_nulls_ignored():
    con = connect({k: v + v[:1] for k, v in SMALL.items()})  # each basket repeats a product
    con.execute("INSERT INTO b VALUES (NULL, 1), (1, NULL)")
    basket.mine_rules(con, "b", "r", min_support=0.4, min_confidence=0.7)
    assert set(rules(con)) == {((1,), 2), ((2,), 1), ((1,), 3), ((3,), 1), ((2, 3), 1)}
    assert rules(con)[((1,), 2)][0] == pytest.approx(0.6)  # still 5 baskets, not 6


def test_lift_filter_drops_negative_associations():
    # 1 and 2 are each in half of 8 baskets but together only once: lift 1*8/(4*4) = 0.5.
    con = connect({1: [1, 2], 2: [1], 3: [1], 4: [1], 5: [2], 6: [2], 7: [2], 8: [3]})
    assert basket.mine_rules(con, "b", "r", min_support=0.1, min_confidence=0.0) == 0
    assert basket.mine_rules(con, "b", "r", min_support=0.1, min_confidence=0.0,
                             min_lift=0.5) == 2  # the bound is inclusive
    assert rules(con)[((1,), 2)] == (0.125, 0.25, 0.5, 1)


def test_max_len_two_has_single_antecedents_only():
    con = connect(SMALL)
    basket.mine_rules(con, "b", "r", min_support=0.4, min_confidence=0.0, max_len=2)
    assert {len(a) for a, _ in rules(con)} == {1}
    assert len(rules(con)) == 6


def test_cap_keeps_best_rules_per_antecedent():
    con = connect(SMALL)
    basket.mine_rules(con, "b", "r", min_support=0.4, min_confidence=0.0,
                      max_rules_per_antecedent=1)
    got = rules(con)
    # {1} -> 2 and {1} -> 3 tie on lift and confidence: the lower consequent wins.
    assert set(got) == {((1,), 2), ((2,), 1), ((3,), 1), ((1, 2), 3), ((1, 3), 2), ((2, 3), 1)}


def test_count_exactly_at_min_support_is_kept():
    # 10 baskets, {1,2} in 3 of them; 0.3 * 10 is 3.0000000000000004 in floats, and a
    # threshold of ceil(0.3 * 10) = 4 would lose it.
    baskets = {b: [1, 2] if b < 3 else [1] if b < 6 else [2] for b in range(10)}
    con = connect(baskets)
    assert basket.mine_rules(con, "b", "r", min_support=0.3, min_confidence=0.0,
                             min_lift=0.0) == 2
    assert rules(con)[((1,), 2)][0] == pytest.approx(0.3)
    assert basket.mine_rules(con, "b", "r", min_support=0.31, min_confidence=0.0,
                             min_lift=0.0) == 0


def test_min_support_one_and_tiny():
    con = connect({1: [1, 2, 3], 2: [1, 2], 3: [1, 2, 4]})
    basket.mine_rules(con, "b", "r", min_support=1.0, min_confidence=0.0)
    assert set(rules(con)) == {((1,), 2), ((2,), 1)}  # only {1,2} is in every basket
    # A support below 1/N keeps every co-occurrence: pairs 12 13 14 23 24 and triples
    # 123 124, i.e. 5 * 2 + 2 * 3 rules before the lift filter.
    assert basket.mine_rules(con, "b", "r", min_support=1e-9, min_confidence=0.0,
                             min_lift=0.0) == 16


def test_nothing_frequent_and_empty_input_give_an_empty_table():
    con = connect({1: [1], 2: [2], 3: [3]})
    assert basket.mine_rules(con, "b", "r", min_support=0.5, min_confidence=0.0) == 0
    assert con.execute("SELECT count(*) FROM r").fetchall() == [(0,)]
    con.execute("DELETE FROM b")
    assert basket.mine_rules(con, "b", "r", min_support=0.5, min_confidence=0.0) == 0
    assert [c for c, *_ in con.execute("DESCRIBE r").fetchall()] == list(basket.RULE_COLUMNS)


def test_replaces_the_output_table_and_leaves_no_scratch_tables():
    con = connect(SMALL)
    con.execute("CREATE TABLE r AS SELECT 42 AS stale")
    basket.mine_rules(con, "b", "r", min_support=0.4, min_confidence=0.0)
    tables = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert tables == {"b", "r"}
    assert con.sql("SELECT count(*) FROM r").fetchall() == [(9,)]  # connection left usable


@pytest.mark.parametrize("kwargs, message", [
    ({"min_support": 0}, "min_support"),
    ({"min_support": 1.5}, "min_support"),
    ({"min_support": float("nan")}, "min_support"),
    ({"min_support": "0.1"}, "min_support"),
    ({"min_support": True}, "min_support"),
    ({"min_confidence": -0.1}, "min_confidence"),
    ({"min_confidence": 1.01}, "min_confidence"),
    ({"min_lift": -1}, "min_lift"),
    ({"min_lift": math.inf}, "min_lift"),
    ({"max_len": 1}, "max_len"),
    ({"max_len": 4}, "max_len"),
    ({"max_len": 2.0}, "max_len"),
    ({"max_rules_per_antecedent": 0}, "max_rules_per_antecedent"),
    ({"max_rules_per_antecedent": 2.5}, "max_rules_per_antecedent"),
])
def test_bad_parameters_raise(kwargs, message):
    con = connect(SMALL)
    params = {"min_support": 0.1, "min_confidence": 0.1} | kwargs
    with pytest.raises(ValueError, match=message):
        basket.mine_rules(con, "b", "r", **params)


def test_bad_tables_raise():
    con = connect(SMALL)
    con.execute("CREATE TABLE wrong (basket_id BIGINT, sku INTEGER)")
    for source, out, message in [("b; DROP TABLE b", "r", "baskets must be a table name"),
                                 ("b", "r r", "out_table must be a table name"),
                                 ("b", "B", "must differ"),
                                 ("wrong", "r", "lacks column"),
                                 ("missing", "r", "no table or view")]:
        with pytest.raises(ValueError, match=message):
            basket.mine_rules(con, source, out, min_support=0.1, min_confidence=0.1)
        assert con.sql("SELECT 1").fetchall() == [(1,)]  # no half-read result left behind


def test_schema_qualified_names():
    con = connect(SMALL)
    con.execute("CREATE SCHEMA w; CREATE VIEW w.lines AS SELECT * FROM b")
    assert basket.mine_rules(con, "w.lines", "w.rules", min_support=0.4,
                             min_confidence=0.0) == 9


def random_baskets(seed=20240611, n=3000, products=50) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    popularity = 1 / np.arange(1, products + 1) ** 0.8
    popularity /= popularity.sum()
    rows = []
    for b in range(n):
        items = set(rng.choice(products, size=rng.integers(1, 7), p=popularity).tolist())
        if 3 in items and rng.random() < 0.6:  # planted pair: 3 pulls in 17
            items.add(17)
        if {1, 2} <= items and rng.random() < 0.7:  # planted triple: 1 and 2 pull in 33
            items.add(33)
        if rng.random() < 0.04:  # planted bundle bought together
            items |= {20, 30, 40}
        rows += [(b, i) for i in items]
    return pd.DataFrame(rows, columns=["basket_id", "product_id"])


def mlxtend_rules(frame, min_support, min_confidence, min_lift, max_len) -> dict[tuple, tuple]:
    onehot = pd.crosstab(frame.basket_id, frame.product_id).astype(bool)
    onehot.columns = [int(c) for c in onehot.columns]
    n = len(onehot)
    itemsets = fpgrowth(onehot, min_support=min_support, use_colnames=True, max_len=max_len)
    found = association_rules(itemsets, num_itemsets=n, metric="confidence",
                              min_threshold=max(0.0, min_confidence - 1e-9))
    out = {}
    for ante, cons, s_ac, s_a, s_c, conf in zip(
            found.antecedents, found.consequents, found.support, found["antecedent support"],
            found["consequent support"], found.confidence, strict=True):
        if len(cons) != 1:
            continue
        # The thresholds are applied on the exact counts (support * N is an integer), as the
        # module does; mlxtend's conf = s_AC / s_A can sit one ulp under a ratio like 19/190.
        n_ac, n_a, n_c = (round(x * n) for x in (s_ac, s_a, s_c))
        if n_ac / n_a >= min_confidence and (n_ac * n) / (n_a * n_c) >= min_lift:
            out[(tuple(sorted(ante)), next(iter(cons)))] = (s_ac, conf)
    return out


@pytest.mark.parametrize("min_support, min_confidence, min_lift, max_len", [
    (0.01, 0.1, 1.0, 3), (0.005, 0.1, 0.0, 3), (0.02, 0.3, 1.0, 2), (0.003, 0.05, 1.2, 3)])
def test_same_rules_as_mlxtend_fpgrowth(min_support, min_confidence, min_lift, max_len):
    frame = random_baskets()
    con = duckdb.connect()
    con.register("baskets_view", frame)
    basket.mine_rules(con, "baskets_view", "r", min_support=min_support,
                      min_confidence=min_confidence, min_lift=min_lift, max_len=max_len)
    ours = {key: values[:2] for key, values in rules(con).items()}
    theirs = mlxtend_rules(frame, min_support, min_confidence, min_lift, max_len)
    assert len(ours) > 10
    assert ours.keys() == theirs.keys()
    for key, (support, confidence) in ours.items():
        assert support == pytest.approx(theirs[key][0], abs=1e-9)
        assert confidence == pytest.approx(theirs[key][1], abs=1e-9)
    if max_len == 3 and min_support <= 0.01:  # the planted associations are found
        assert ((3,), 17) in ours and ((1, 2), 33) in ours and ((20, 30), 40) in ours


def products(rows) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE p (product_id INTEGER, category VARCHAR, price_minor BIGINT)")
    con.executemany("INSERT INTO p VALUES (?, ?, ?)", rows)
    return con


def test_upsell_next_dearer_in_category_within_cap():
    con = products([(1, "milk", 100), (2, "milk", 120), (3, "milk", 120), (4, "milk", 200),
                    (5, "tea", 50), (6, "tea", 60), (7, None, 10), (8, "tea", 0),
                    (9, "bread", 300)])
    assert basket.upsell(con, "p", "u") == 2
    assert con.execute("FROM u ORDER BY product_id").fetchall() == [(1, 2, 1.2), (5, 6, 1.2)]
    # 2 and 3 (same price) are not each other's upsell; 200 is 1.67x 120, over the cap.
    assert basket.upsell(con, "p", "u", max_ratio=2.0) == 4
    assert con.execute("FROM u ORDER BY product_id").fetchall() == [
        (1, 2, 1.2), (2, 4, 200 / 120), (3, 4, 200 / 120), (5, 6, 1.2)]
    assert [c for c, *_ in con.execute("DESCRIBE u").fetchall()] == list(basket.UPSELL_COLUMNS)


@pytest.mark.parametrize("ratio", [1.0, 0.5, math.nan, math.inf, "2"])
def test_upsell_bad_ratio(ratio):
    con = products([(1, "milk", 100)])
    with pytest.raises(ValueError, match="max_ratio"):
        basket.upsell(con, "p", "u", max_ratio=ratio)


def test_upsell_missing_columns():
    con = duckdb.connect()
    con.execute("CREATE TABLE p (product_id INTEGER, price_minor BIGINT)")
    with pytest.raises(ValueError, match="category"):
        basket.upsell(con, "p", "u")
