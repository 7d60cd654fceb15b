"""What the till stores in its outbox is exactly what the kind's schema would dump, and what
central will load: the fast JSON conversion and the schemas agree."""

import uuid
from datetime import datetime, timezone

from kassa.sync.outbox import jsonable
from kassa.sync.protocol import EVENT_PAYLOADS

NOW = datetime(2026, 11, 27, 10, 30, 0, 123456, tzinfo=timezone.utc)
SALE = {
    "sale_id": uuid.uuid4(), "receipt_no": "pos-1-00000001", "store_id": 1,
    "shift_id": uuid.uuid4(), "cashier_id": 7, "sold_at": NOW, "customer_id": None,
    "gross_minor": 200, "discount_minor": 10, "total_minor": 190, "vat_minor": 17,
    "lines": [{"line_no": 1, "product_id": 1, "sku": "1001", "name": "Milk",
               "quantity_milli": 2000, "unit_price_minor": 100, "gross_minor": 200,
               "discount_minor": 10, "promotion_id": None, "amount_minor": 190,
               "vat_rate_bp": 1000, "vat_minor": 17}],
    "payments": [{"method": "cash", "amount_minor": 190, "tendered_minor": 200,
                  "reference": None}],
}


def test_the_stored_document_equals_the_schema_dump_and_loads_at_central():
    schema = EVENT_PAYLOADS["sale.completed"]()
    stored = jsonable(SALE)
    assert stored == schema.dump(SALE)
    loaded = schema.load(stored)
    assert loaded["sale_id"] == SALE["sale_id"] and loaded["sold_at"] == NOW
