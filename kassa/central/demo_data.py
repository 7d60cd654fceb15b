"""Demo master data: two regions, a store in each, a small catalogue, users with fresh secrets.

Passwords and PINs are generated on every run and handed back to the caller (the demo prints
them and keeps them in a file only its user can read); none is written in the repository.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.orm import Session

from kassa.central.access import people
from kassa.central.catalog.products import create_product
from kassa.central.catalog.promotions import create_promotion
from kassa.central.catalog.stores import create_region, create_store
from kassa.central.crm import profiles
from kassa.central.membership import loyalty_accounts, loyalty_rules
from kassa.central.models import CompanyDetails
from kassa.central.replication.nodes import add_node
from kassa.loyalty import settings

# sku, name, VAT basis points, price in kopecks, unit, barcodes
CATALOGUE = [
    ("1001", "Milk 3.2% 1 l", 1000, 8990, "pcs", ("4600000010010",)),
    ("1002", "Rye bread 500 g", 1000, 5490, "pcs", ("4600000010027",)),
    ("1003", "Butter 82% 180 g", 1000, 21990, "pcs", ("4600000010034",)),
    ("1004", "Eggs C1, 10 pcs", 1000, 11990, "pcs", ("4600000010041",)),
    ("1005", "Buckwheat 900 g", 1000, 9990, "pcs", ("4600000010058",)),
    ("2001", "Apples Golden, kg", 1000, 15990, "kg", ("2100000020016",)),
    ("2002", "Bananas, kg", 1000, 13490, "kg", ("2100000020023",)),
    ("3001", "Coffee beans 1 kg", 2000, 149000, "pcs", ("4600000030018",)),
    ("3002", "Black tea 100 bags", 2000, 34990, "pcs", ("4600000030025",)),
    ("4001", "Dish soap 500 ml", 2000, 12990, "pcs", ("4600000040017",)),
    ("4002", "Paper towels, 2 rolls", 2000, 15990, "pcs", ("4600000040024",)),
    ("5001", "Chocolate 90 g", 2000, 9990, "pcs", ("4600000050016", "4600000050023")),
]
# What the Russian store's tills show and find (a cashier there searches "молоко").
RUSSIAN_NAMES = {
    "1001": "Молоко 3,2% 1 л", "1002": "Хлеб ржаной 500 г", "1003": "Масло сливочное 82% 180 г",
    "1004": "Яйца С1, 10 шт.", "1005": "Гречка 900 г", "2001": "Яблоки Голден, кг",
    "2002": "Бананы, кг", "3001": "Кофе в зёрнах 1 кг", "3002": "Чай чёрный, 100 пакетиков",
    "4001": "Средство для посуды 500 мл", "4002": "Бумажные полотенца, 2 рулона",
    "5001": "Шоколад 90 г",
}
CATEGORIES = {"1": "grocery", "2": "produce", "3": "coffee and tea", "4": "household",
              "5": "sweets"}  # by the SKU's first digit


def new_secret() -> str:
    return secrets.token_urlsafe(9)


def new_pin() -> str:
    return f"{secrets.randbelow(10**4):04d}"


def seed(session: Session, node_ids: tuple[str, ...] = ("pos-1", "pos-2")) -> dict:
    """Create the demo chain; returns credentials and node enrolment codes."""
    msk = create_region(session, "MSK", "Moscow")
    spb = create_region(session, "SPB", "Saint Petersburg")
    stores = [create_store(session, "S001", "Tverskaya 7", msk, "Europe/Moscow",
                           address="7 Tverskaya St, Moscow 125009"),
              create_store(session, "S002", "Nevsky 28", spb, "Europe/Moscow",
                           address="Невский пр., 28, Санкт-Петербург 191186")]
    products = {sku: create_product(session, sku, name, vat, price, unit, barcodes,
                                    CATEGORIES[sku[0]], {"ru": RUSSIAN_NAMES[sku]})
                for sku, name, vat, price, unit, barcodes in CATALOGUE}
    create_promotion(session, "Chocolate: 3 for 2", "n_for_m", [products["5001"]], n=3, m=2)
    create_promotion(session, "Tea 15 % off", "percent", [products["3002"]], percent_bp=1500)
    create_promotion(session, "Bananas 20 roubles off a kilo", "amount", [products["2002"]],
                     amount_minor=2000)
    people.set_role_limit(session, "cashier", 1000, 300000)  # 10 %, 3,000.00 roubles
    people.set_role_limit(session, "store_manager", 5000, 10000000)
    loyalty_rules.set_rules(session, settings.DEFAULT)
    session.add(CompanyDetails(id=1, name="Kassa Retail LLC", inn="7700000000", kpp="770001001",
                               address="Tverskaya 7, Moscow", bank="Demo Bank",
                               bic="044525000", account="40702810000000000000"))
    for n, (name, home) in enumerate([("Anna Petrova", 0), ("Ivan Sidorov", 0),
                                      ("Olga Smirnova", 1)], start=1):
        customer = profiles.create_customer(session, name, card_number=f"{7770000000000000 + n}",
                                            phone=f"+7900000000{n}", home_store=stores[home])
        loyalty_accounts.open_account(session, customer)

    users = {}
    # Staff have the names a receipt or a report shows; the login is for signing in.
    staff: list[tuple[str, str, dict[str, Any]]] = [
        ("admin", "admin", {"full_name": "Chain administrator"}),
        ("office", "central_office", {"full_name": "Elena Orlova"}),
        ("rm-msk", "regional_manager", {"region": msk, "full_name": "Pavel Morozov"}),
        ("rm-spb", "regional_manager", {"region": spb, "full_name": "Ирина Волкова"}),
        ("sm-s001", "store_manager", {"store": stores[0], "full_name": "Sergey Lebedev"}),
        ("sm-s002", "store_manager", {"store": stores[1], "full_name": "Алексей Попов"}),
        ("cashier-s001", "cashier", {"store": stores[0], "full_name": "Maria Ivanova"}),
        ("cashier-s002", "cashier", {"store": stores[1], "full_name": "Ольга Новикова"}),
    ]
    for username, role, kwargs in staff:
        password = new_secret() if role != "cashier" else None
        pin = new_pin() if role in ("cashier", "store_manager") else None
        people.create_user(session, username, role, password=password, pin=pin,
                           email=f"{username}@kassa.example", **kwargs)
        users[username] = {"role": role, "password": password, "pin": pin}

    nodes = {node_id: {"store": stores[i % len(stores)].code,
                       "enroll_code": add_node(session, node_id, stores[i % len(stores)])}
             for i, node_id in enumerate(node_ids)}
    return {"users": users, "nodes": nodes}
