"""Basket analysis in the warehouse: cross-sell rules mined from baskets, and upsell pairs.

This module owns two things, both computed inside DuckDB and written to a table the caller
names (created or replaced):

* ``mine_rules``: association rules ``{A} -> B`` and ``{A, B} -> C`` from a table or view of
  (basket_id, product_id) rows, with support, confidence and lift. Frequent itemsets are found
  Apriori-style in SQL: frequent single products first, then pairs counted only over baskets'
  frequent products, then triples counted only for candidates whose three sub-pairs are all
  frequent.
* ``upsell``: for each product, the next dearer product of its category, within a price cap.

Support is a fraction of the baskets present in the input; an itemset is frequent when
``count / baskets >= min_support`` (the float comparison, so a count exactly at the threshold
is kept). The module is pure: a connection in, a table out; no Flask, no central database.
"""

from __future__ import annotations

import math
import re
import uuid

import duckdb

RULE_COLUMNS = ("antecedent", "consequent", "support", "confidence", "lift", "baskets")
UPSELL_COLUMNS = ("product_id", "upsell_product_id", "price_ratio")

# A table name, optionally qualified by schema (and catalog); it is quoted before use.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}")

_EMPTY_RULES = ("antecedent INTEGER[], consequent INTEGER, support DOUBLE, confidence DOUBLE, "
                "lift DOUBLE, baskets BIGINT")


def mine_rules(con: duckdb.DuckDBPyConnection, baskets: str, out_table: str, *,
               min_support: float, min_confidence: float, min_lift: float = 1.0,
               max_len: int = 3, max_rules_per_antecedent: int | None = None) -> int:
    """Write the rules of ``baskets`` into ``out_table``; return how many were written.

    ``baskets`` has columns basket_id and product_id (duplicates and NULLs are ignored).
    Rules have one consequent; with ``max_rules_per_antecedent`` only the best rules of each
    antecedent are kept (highest lift, then confidence, then lowest consequent id). Scratch
    space is one row per pair of frequent products bought together (m * (m - 1) / 2 rows for
    a basket of m of them), in temp tables that DuckDB spills past its memory_limit.
    """
    _fraction("min_support", min_support, allow_zero=False)
    _fraction("min_confidence", min_confidence, allow_zero=True)
    if not _is_number(min_lift) or not math.isfinite(min_lift) or min_lift < 0:
        raise ValueError(f"min_lift must be a finite number >= 0, got {min_lift!r}")
    if not isinstance(max_len, int) or isinstance(max_len, bool) or max_len not in (2, 3):
        raise ValueError(f"max_len must be 2 or 3, got {max_len!r}")
    cap = max_rules_per_antecedent
    if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
        raise ValueError(f"max_rules_per_antecedent must be None or an int >= 1, got {cap!r}")
    src, out = _names(baskets, "baskets", out_table)
    _require_columns(con, src, ("basket_id", "product_id"))

    # Scratch tables get a per-call suffix so they never meet the caller's own temp tables.
    tag = uuid.uuid4().hex[:12]
    scratch = items, single, itemsets, occurs, frequent_occurs = [
        f"_basket_{tag}_{n}" for n in ("items", "single", "itemsets", "occurs", "focc")]
    try:
        con.execute(f"CREATE TEMP TABLE {items} AS SELECT DISTINCT basket_id::BIGINT AS "
                    f"basket_id, product_id::INTEGER AS product_id FROM {src} "
                    "WHERE basket_id IS NOT NULL AND product_id IS NOT NULL")
        n_baskets = _scalar(con, f"SELECT count(DISTINCT basket_id) FROM {items}")
        if n_baskets == 0:
            con.execute(f"CREATE OR REPLACE TABLE {out} ({_EMPTY_RULES})")
            return 0
        min_count = _min_count(min_support, n_baskets)

        con.execute(f"CREATE TEMP TABLE {single} AS SELECT product_id AS item, count(*) AS n "
                    f"FROM {items} GROUP BY product_id HAVING count(*) >= ?", [min_count])
        con.execute(f"CREATE TEMP TABLE {itemsets} AS SELECT [item] AS items, n FROM {single}")
        # Apriori: a frequent pair holds two frequent products, so only those are paired. Each
        # unordered pair occurring in a basket is one row (a < b); the rows are kept because
        # triples are counted from them, and counting a stored table beats a streamed join.
        con.execute(f"""
            CREATE TEMP TABLE {occurs} AS
            WITH f AS (SELECT basket_id, product_id FROM {items}
                       SEMI JOIN {single} ON product_id = item)
            SELECT a.basket_id, a.product_id AS i, b.product_id AS j FROM f a
            JOIN f b ON b.basket_id = a.basket_id AND b.product_id > a.product_id""")
        con.execute(f"DROP TABLE {items}")  # the largest scratch tables go as soon as done
        con.execute(f"INSERT INTO {itemsets} SELECT [i, j], count(*) FROM {occurs} "
                    "GROUP BY i, j HAVING count(*) >= ?", [min_count])
        if max_len == 3:
            con.execute(f"""
                CREATE TEMP TABLE {frequent_occurs} AS SELECT * FROM {occurs} o
                SEMI JOIN (SELECT items[1] AS i, items[2] AS j FROM {itemsets}
                           WHERE len(items) = 2) p ON p.i = o.i AND p.j = o.j""")
            con.execute(f"DROP TABLE {occurs}")
            _insert_triples(con, itemsets, frequent_occurs, min_count)
        _write_rules(con, out, itemsets, n_baskets, min_confidence, min_lift, cap)
        return _scalar(con, f"SELECT count(*) FROM {out}")
    finally:
        for name in scratch:
            con.execute(f"DROP TABLE IF EXISTS {name}")


def _insert_triples(con, itemsets: str, occurs: str, min_count: int) -> None:
    # ``occurs`` holds each basket's frequent pairs (basket, i, j). A triple i < j < k is in a
    # basket exactly when (i, j) and (i, k) are there, so a self-join on (basket, i) finds
    # triples without a three-way join of the baskets' products. Candidates join two frequent
    # pairs sharing i and keep those whose third pair (j, k) is frequent too (the Apriori
    # check that every sub-pair is frequent); only they are counted.
    con.execute(f"""
        INSERT INTO {itemsets}
        WITH pair AS (SELECT items[1] AS i, items[2] AS j FROM {itemsets} WHERE len(items) = 2),
        candidate AS (
            SELECT p.i, p.j, q.j AS k FROM pair p JOIN pair q ON q.i = p.i AND q.j > p.j
            SEMI JOIN pair r ON r.i = p.j AND r.j = q.j)
        SELECT [x.i, x.j, y.j], count(*) FROM {occurs} x
        JOIN {occurs} y ON y.basket_id = x.basket_id AND y.i = x.i AND y.j > x.j
        SEMI JOIN candidate c ON c.i = x.i AND c.j = x.j AND c.k = y.j
        GROUP BY x.i, x.j, y.j HAVING count(*) >= ?""", [min_count])


def _write_rules(con, out: str, itemsets: str, n_baskets: int, min_confidence: float,
                 min_lift: float, cap: int | None) -> None:
    # Every itemset of two or more products gives one rule per member as the consequent; the
    # antecedent (the rest, still sorted) is itself frequent, so its count is in the same
    # table. Slicing rather than a lambda keeps the SQL valid across DuckDB 1.x and 2.x.
    # Lift is n * N / (n_A * n_C) on exact integers, converted to DOUBLE once.
    keep = "" if cap is None else (
        "QUALIFY row_number() OVER (PARTITION BY antecedent "
        f"ORDER BY lift DESC, confidence DESC, consequent) <= {int(cap)}")
    con.execute(f"""
        CREATE OR REPLACE TABLE {out} AS
        WITH split AS (
            SELECT items, n, unnest(range(1, len(items) + 1)) AS pos FROM {itemsets}
            WHERE len(items) >= 2),
        rule AS (
            SELECT list_concat(items[:pos - 1], items[pos + 1:]) AS antecedent,
                   items[pos] AS consequent, n FROM split),
        counted AS (
            SELECT r.antecedent, r.consequent, r.n, a.n AS n_ante, c.n AS n_cons FROM rule r
            JOIN {itemsets} a ON a.items = r.antecedent
            JOIN {itemsets} c ON c.items = [r.consequent]),
        scored AS (
            SELECT antecedent::INTEGER[] AS antecedent, consequent::INTEGER AS consequent,
                   n::DOUBLE / $n AS support, n::DOUBLE / n_ante AS confidence,
                   (n * $n)::DOUBLE / (n_ante * n_cons)::DOUBLE AS lift, n::BIGINT AS baskets
            FROM counted)
        SELECT * FROM scored WHERE confidence >= $conf AND lift >= $lift {keep}
        ORDER BY antecedent, lift DESC, consequent""",
                {"n": n_baskets, "conf": float(min_confidence), "lift": float(min_lift)})


def upsell(con: duckdb.DuckDBPyConnection, products_table: str, out_table: str, *,
           max_ratio: float = 1.5) -> int:
    """For each product, the next dearer product of its category, if within ``max_ratio``.

    ``products_table`` has product_id, category and price_minor; products without a category or
    a positive price are skipped. "Next dearer" is the lowest price strictly above the
    product's own (ties broken by the lowest product_id), so equal-priced products are never
    proposed as an upsell of each other. Writes (product_id, upsell_product_id, price_ratio)
    into ``out_table`` and returns the number of rows.
    """
    if not _is_number(max_ratio) or not math.isfinite(max_ratio) or max_ratio <= 1:
        raise ValueError(f"max_ratio must be a finite number > 1, got {max_ratio!r}")
    src, out = _names(products_table, "products_table", out_table)
    _require_columns(con, src, ("product_id", "category", "price_minor"))
    con.execute(f"""
        CREATE OR REPLACE TABLE {out} AS
        WITH priced AS (
            SELECT product_id::INTEGER AS product_id, category, price_minor::BIGINT AS price
            FROM {src} WHERE category IS NOT NULL AND price_minor > 0 AND product_id IS NOT NULL),
        step AS (  -- each distinct price of a category, the next price up and its holder
            SELECT category, price, lead(price) OVER up AS next_price,
                   lead(min(product_id)) OVER up AS next_holder
            FROM priced GROUP BY category, price
            WINDOW up AS (PARTITION BY category ORDER BY price))
        SELECT p.product_id, s.next_holder AS upsell_product_id,
               s.next_price::DOUBLE / p.price AS price_ratio
        FROM priced p JOIN step s ON s.category = p.category AND s.price = p.price
        WHERE s.next_price::DOUBLE / p.price <= $max_ratio
        ORDER BY p.product_id""", {"max_ratio": float(max_ratio)})
    return _scalar(con, f"SELECT count(*) FROM {out}")


def _min_count(min_support: float, n_baskets: int) -> int:
    # The smallest count c with c / N >= min_support as floats: ceil(min_support * N) can be
    # one too high when the product rounds up (0.3 * 10 = 3.0000000000000004).
    count = max(1, math.ceil(min_support * n_baskets))
    while count > 1 and (count - 1) / n_baskets >= min_support:
        count -= 1
    while count / n_baskets < min_support:
        count += 1
    return count


def _scalar(con, sql: str):
    # fetchall, not fetchone: a half-read result would block the caller's next con.sql().
    return con.execute(sql).fetchall()[0][0]


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fraction(name: str, value, *, allow_zero: bool) -> None:
    if not _is_number(value) or math.isnan(value) or not (0 <= value <= 1) or (
            value == 0 and not allow_zero):
        interval = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")


def _quote(name: str, what: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"{what} must be a table name like 'sales' or 'warehouse.sales', "
                         f"got {name!r}")
    return ".".join(f'"{part}"' for part in name.split("."))


def _names(source: str, what: str, out_table: str) -> tuple[str, str]:
    src, out = _quote(source, what), _quote(out_table, "out_table")
    if src.lower() == out.lower():
        raise ValueError(f"out_table must differ from {what} ({source!r}); it is replaced")
    return src, out


def _require_columns(con, src: str, needed: tuple[str, ...]) -> None:
    try:
        result = con.execute(f"SELECT * FROM {src} LIMIT 0")
    except duckdb.CatalogException as error:
        raise ValueError(f"no table or view {src}") from error
    columns = {d[0].lower() for d in result.description}
    result.fetchall()  # finish the (empty) result so the connection is free for the caller
    missing = [c for c in needed if c not in columns]
    if missing:
        raise ValueError(f"{src} lacks column(s) {', '.join(missing)}; "
                         f"expected {', '.join(needed)}")
