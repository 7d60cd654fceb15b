"""What the till stores in its outbox is what central loads back, field for field: the fast
JSON conversion and the payload records agree."""

import uuid
from datetime import datetime, timezone

from kassa.sync import payloads
from kassa.sync.payloads import jsonable

NOW = datetime(2026, 11, 27, 10, 30, 0, 123456, tzinfo=timezone.utc)
SALE = {
    "sale_id": uuid.uuid4(), "receipt_no": "pos-1-00000001", "store_id": 1,
    "shift_id": uuid.uuid4(), "cashier_id": 7, "sold_at": NOW, "customer_id": None,
    "gross_minor": 200, "discount_minor": 10, "total_minor": 190, "vat_minor": 17,
    "lines": [{"line_no": 1, "product_id": 1, "sku": "1001", "name": "Milk",
               "quantity_milli": 2000, "unit_price_minor": 100, "gross_minor": 200,
               "discount_minor": 10, "promotion_id": None, "amount_minor": 190,
               "vat_rate_bp": 1000, "vat_minor": 17, "points_earned": 1, "offer_id": 3}],
    "payments": [{"method": "cash", "amount_minor": 190, "tendered_minor": 200,
                  "reference": None}],
    "authorization_id": None,
    "loyalty": {"account_id": uuid.uuid4(), "burned": 0, "hold_id": None,
                "card_number": "7770000000000001", "rules_version": 4},
    "fiscal": None, "receipt_email": None,
}


def test_the_stored_document_loads_back_to_the_same_sale_at_central():
    stored = jsonable(SALE)
    assert payloads.load("sale.completed", stored) == SALE


def test_payloads_are_checked_strictly():
    import pytest
    for broken in ({**SALE, "store_id": "1"}, {**SALE, "lines": []},
                   {**SALE, "sold_at": "2026-11-27T10:30:00"},
                   {**SALE, "payments": [{"method": "iou", "amount_minor": 1}]},
                   {**SALE, "lines": [{**SALE["lines"][0], "quantity_milli": 0}]},
                   {**SALE, "store_id": True}):
        with pytest.raises(payloads.PayloadError):
            payloads.load("sale.completed", jsonable(broken))
    newer = {**jsonable(SALE), "loyalty_card": "7770000000000001"}
    assert payloads.load("sale.completed", newer) == SALE
