"""Personal offers from central's change feed to the till and back, over real HTTP with central
on SQLite and PostgreSQL: the cart of a consenting customer shows the offers its goods
trigger, the offered product scanned afterwards is discounted under the offer, the sale and
each exposure go up once, and the hold-out group is shown nothing but still counted. Offers
are published the way central's publisher does it: entries in the change feed."""

import uuid

from sqlalchemy import select

from kassa.central.models import Customer, Offer, OfferExposure, Product, QuarantinedEvent
from kassa.central.models import SaleLine as CentralLine
from kassa.central.replication import feed
from kassa.pos_node.models import OfferExposure as TillExposure
from kassa.pos_node.models import OutboxEvent
from kassa.pos_node.replication.client import sync_now
from tests.helpers import count
from tests.integration.test_till_workflow import add

ANNA, IVAN, OLGA = "7770000000000001", "7770000000000002", "7770000000000003"
MILK, BREAD, COFFEE, TEA, CHOCOLATE = "1001", "1002", "3001", "3002", "5001"


def ids(central_db) -> tuple[dict[str, int], dict[str, uuid.UUID]]:
    """Central's product ids by SKU and customer ids by card number."""
    with central_db.read() as s:
        return (dict(s.execute(select(Product.sku, Product.id)).all()),
                dict(s.execute(select(Customer.card_number, Customer.id)
                               .where(Customer.card_number.is_not(None))).all()))


def publish_offer(central_db, product: str, triggers: list[str], discount_bp: int = 1000,
                  segments: list[str] | None = None, active: bool = True) -> int:
    """An offer as central's publisher makes one: the row, and its document in the feed."""
    products, _ = ids(central_db)
    with central_db.transaction() as s:
        offer = Offer(rule_key=f"test:{uuid.uuid4()}", kind="cross_sell",
                      product_id=products[product],
                      trigger_product_ids=[products[t] for t in triggers],
                      discount_bp=discount_bp, segments=segments, active=active)
        s.add(offer)
        s.flush()
        feed.record_change(s, "offer", offer.id, offer_doc(offer))
        return offer.id


def offer_doc(offer: Offer) -> dict:
    return {"id": offer.id, "kind": offer.kind, "product_id": offer.product_id,
            "trigger_product_ids": list(offer.trigger_product_ids),
            "discount_bp": offer.discount_bp, "segments": offer.segments,
            "active": offer.active}


def change_offer(central_db, offer_id: int, **changes) -> None:
    """Change an offer (``deleted=True``: a tombstone) and publish the change."""
    with central_db.transaction() as s:
        offer = s.get(Offer, offer_id)
        if changes.pop("deleted", False):
            feed.record_change(s, "offer", offer_id, None)
            return
        for k, v in changes.items():
            setattr(offer, k, v)
        s.flush()
        feed.record_change(s, "offer", offer_id, offer_doc(offer))


def publish_profile(central_db, card: str, segment: str | None = "Champions",
                    offers_ok: bool = True, held_out: bool = False,
                    deleted: bool = False) -> uuid.UUID:
    _, customers = ids(central_db)
    cid = customers[card]
    with central_db.transaction() as s:
        feed.record_change(s, "offer_profile", str(cid), None if deleted else {
            "customer_id": str(cid), "segment": segment, "offers_ok": offers_ok,
            "held_out": held_out})
    return cid


def identify(client, card: str) -> dict:
    resp = client.post("/api/v1/cart/customer", json={"card_number": card})
    assert resp.status_code == 200, resp.json
    return resp.json


def pay(client) -> dict:
    total = client.get("/api/v1/cart").json["total_minor"]
    resp = client.post("/api/v1/cart/checkout", json={"payments": [
        {"method": "cash", "amount": total}]})
    assert resp.status_code == 201, resp.json
    return resp.json


def shown_events(db) -> list[dict]:
    with db.read() as s:
        return [e.payload for e in s.scalars(select(OutboxEvent).where(
            OutboxEvent.kind == "offer.shown").order_by(OutboxEvent.seq))]


def exposures(central_db) -> list[OfferExposure]:
    with central_db.read() as s:
        return list(s.scalars(select(OfferExposure).order_by(OfferExposure.at)))


def nothing_quarantined(central_db) -> bool:
    return count(central_db, QuarantinedEvent) == 0


def test_an_offer_is_shown_taken_at_its_discount_and_counted_once_at_central(tills, central_db):
    client, db = tills["pos-1"]
    products, _ = ids(central_db)
    offer_id = publish_offer(central_db, COFFEE, [MILK])
    anna = publish_profile(central_db, ANNA)
    sync_now(db)

    assert identify(client, ANNA)["offers"] == []  # no milk in the cart yet
    cart = add(client, sku=MILK)
    coffee = {"offer_id": offer_id, "product_id": products[COFFEE], "sku": COFFEE,
              "name": "Coffee beans 1 kg", "unit": "pcs", "discount_bp": 1000,
              "price_minor": 149000, "offer_price_minor": 134100}
    assert cart["offers"] == [coffee]
    assert client.get("/api/v1/cart").json["offers"] == [coffee]  # a read shows it too
    cart = add(client, sku=MILK)  # scanning on: the offer stays, shown once
    assert cart["offers"] == [coffee]

    cart = add(client, sku=COFFEE)  # the customer takes it
    line = cart["lines"][1]
    assert (line["offer_id"], line["offer_discount_bp"]) == (offer_id, 1000)
    assert (line["discount_minor"], line["amount_minor"]) == (14900, 134100)
    assert cart["offers"] == [] and cart["total_minor"] == 2 * 8990 + 134100
    sale = pay(client)
    assert [ln["offer_id"] for ln in sale["lines"]] == [None, offer_id]
    assert count(db, TillExposure) == 0  # gone up with the sale
    (event,) = shown_events(db)
    assert (event["offer_id"], event["customer_id"], event["sale_id"], event["accepted"],
            event["held_out"]) == (offer_id, str(anna), sale["id"], True, False)

    sync_now(db)
    sync_now(db)  # a second sync adds nothing
    assert nothing_quarantined(central_db)
    (seen,) = exposures(central_db)
    assert (seen.id, seen.offer_id, seen.customer_id, seen.sale_id, seen.accepted,
            seen.held_out, seen.node_id, seen.store_id) == (
        uuid.UUID(event["exposure_id"]), offer_id, anna, uuid.UUID(sale["id"]), True, False,
        "pos-1", 1)
    with central_db.read() as s:
        assert dict(s.execute(select(CentralLine.sku, CentralLine.offer_id).where(
            CentralLine.sale_id == uuid.UUID(sale["id"]))).all()) == {
            MILK: None, COFFEE: offer_id}


def test_the_hold_out_group_sees_nothing_but_is_recorded(tills, central_db):
    client, db = tills["pos-1"]
    offer_id = publish_offer(central_db, COFFEE, [MILK])
    ivan = publish_profile(central_db, IVAN, held_out=True)
    sync_now(db)
    identify(client, IVAN)
    assert add(client, sku=MILK)["offers"] == []
    cart = add(client, sku=COFFEE)  # bought anyway: at its full price, no offer on the line
    assert cart["lines"][1]["offer_id"] is None and cart["lines"][1]["discount_minor"] == 0
    sale = pay(client)
    sync_now(db)
    assert nothing_quarantined(central_db)
    (seen,) = exposures(central_db)
    assert (seen.offer_id, seen.customer_id, seen.held_out, seen.accepted, seen.sale_id) == (
        offer_id, ivan, True, True, uuid.UUID(sale["id"]))


def test_no_consent_another_segment_or_a_withdrawn_offer_shows_nothing(tills, central_db):
    client, db = tills["pos-1"]
    offer_id = publish_offer(central_db, COFFEE, [MILK], segments=["Champions", "Loyal"])
    publish_profile(central_db, ANNA, segment="Lost")  # not a segment the offer is for
    publish_profile(central_db, IVAN, offers_ok=False)  # said no to personal offers
    sync_now(db)
    for card in (ANNA, IVAN, OLGA):  # Olga has no profile at all
        identify(client, card)
        assert add(client, sku=MILK)["offers"] == [], card
        client.post("/api/v1/cart/void", json={"reason": "test"})

    publish_profile(central_db, ANNA, segment="Loyal")
    sync_now(db)
    identify(client, ANNA)
    assert [o["offer_id"] for o in add(client, sku=MILK)["offers"]] == [offer_id]
    change_offer(central_db, offer_id, active=False)  # switched off while the cart is open
    sync_now(db)
    assert add(client, sku=BREAD)["offers"] == []
    assert client.get("/api/v1/cart").json["offers"] == []
    client.post("/api/v1/cart/void", json={"reason": "test"})

    change_offer(central_db, offer_id, active=True)
    sync_now(db)
    identify(client, ANNA)
    assert add(client, sku=MILK)["offers"] != []
    change_offer(central_db, offer_id, deleted=True)
    sync_now(db)
    assert add(client, sku=MILK)["offers"] == []
    client.post("/api/v1/cart/void", json={"reason": "test"})
    publish_profile(central_db, ANNA, deleted=True)  # consent withdrawn: a tombstone
    other = publish_offer(central_db, TEA, [])
    sync_now(db)
    assert identify(client, ANNA)["offers"] == []
    assert [o["offer_id"] for o in identify(client, IVAN)["offers"]] == []
    publish_profile(central_db, IVAN)
    sync_now(db)
    client.delete("/api/v1/cart/customer")
    assert [o["offer_id"] for o in identify(client, IVAN)["offers"]] == [other]


def test_best_two_offers_voids_and_a_change_of_customer(tills, central_db):
    client, db = tills["pos-1"]
    small = publish_offer(central_db, TEA, [], discount_bp=500)  # offered at the card
    big = publish_offer(central_db, COFFEE, [MILK], discount_bp=1500)
    mid = publish_offer(central_db, CHOCOLATE, [MILK], discount_bp=1000)
    anna = publish_profile(central_db, ANNA)
    publish_profile(central_db, IVAN)
    sync_now(db)
    assert [o["offer_id"] for o in identify(client, ANNA)["offers"]] == [small]
    assert [o["offer_id"] for o in add(client, sku=MILK)["offers"]] == [big, mid]
    cart = add(client, sku=COFFEE)
    assert [o["offer_id"] for o in cart["offers"]] == [mid, small]
    assert cart["lines"][1]["offer_id"] == big

    # A personal offer is the person's: another customer's cart pays the shelf price.
    cart = identify(client, IVAN)
    assert cart["lines"][1]["offer_id"] is None and cart["lines"][1]["discount_minor"] == 0
    removed = client.delete("/api/v1/cart/lines/2").json  # coffee out: offered again
    assert [o["offer_id"] for o in removed["offers"]] == [big, mid]
    void = client.post("/api/v1/cart/void", json={"reason": "customer left"})
    assert void.status_code == 200, void.json
    events = shown_events(db)
    assert {(e["offer_id"], e["customer_id"]) for e in events} == {
        (small, str(anna)), (big, str(anna)), (mid, str(anna)),
        (big, str(ids(central_db)[1][IVAN])), (mid, str(ids(central_db)[1][IVAN])),
        (small, str(ids(central_db)[1][IVAN]))}
    assert all(e["sale_id"] is None and not e["accepted"] for e in events)
    sync_now(db)
    assert nothing_quarantined(central_db)
    assert len(exposures(central_db)) == 6


def test_bad_event_documents_are_refused_and_an_exposure_lands_once(central_app, central_db,
                                                                   enrolled):
    from kassa.sync import payloads
    from tests.helpers import signed
    doc = {"exposure_id": str(uuid.uuid4()), "offer_id": 1, "customer_id": str(uuid.uuid4()),
           "held_out": False, "at": "2026-11-27T10:00:00+00:00", "sale_id": None,
           "accepted": False}
    assert payloads.load("offer.shown", doc)["accepted"] is False
    for broken in ({**doc, "at": "2026-11-27T10:00:00"}, {**doc, "offer_id": "1"},
                   {k: v for k, v in doc.items() if k != "customer_id"}):
        try:
            payloads.load("offer.shown", broken)
        except payloads.PayloadError:
            continue
        raise AssertionError(f"accepted {broken}")
    node_id, key = enrolled
    events = [{"seq": n, "event_id": str(uuid.uuid4()), "kind": "offer.shown",
               "occurred_at": "2026-11-27T10:00:00+00:00", "payload": payload}
              for n, payload in ((1, doc), (2, doc), (3, {**doc, "at": "yesterday"}))]
    resp = signed(central_app.test_client(), "POST", "/api/v1/sync/push", node_id, key,
                  {"node_id": node_id, "events": events})
    assert resp.status_code == 200 and resp.json["high_water"] == 3, resp.json
    assert len(exposures(central_db)) == 1  # the same exposure twice: once
    with central_db.read() as s:  # the broken one is held for an operator
        assert [(q.seq, q.reason) for q in s.scalars(select(QuarantinedEvent))] == [
            (3, "bad_event")]


def test_a_new_till_bootstrapped_from_the_snapshot_holds_the_offers_a_pull_brings(
        central_db, enrolled, live_central, node_template, tmp_path):
    import shutil

    from sqlalchemy import text

    from kassa.common.db import Database
    from kassa.pos_node.replication.bootstrap import bootstrap
    from kassa.pos_node.replication.client import CentralClient, pull
    from tests.helpers import install_identity
    kept = publish_offer(central_db, COFFEE, [MILK], segments=["Loyal"])
    changed = publish_offer(central_db, TEA, [])
    change_offer(central_db, changed, discount_bp=1500, active=False)
    gone = publish_offer(central_db, CHOCOLATE, [BREAD])
    change_offer(central_db, gone, deleted=True)
    publish_profile(central_db, ANNA, segment=None)
    publish_profile(central_db, ANNA, segment="Loyal")
    publish_profile(central_db, IVAN, held_out=True)
    publish_profile(central_db, IVAN, deleted=True)
    publish_profile(central_db, OLGA, offers_ok=False)
    node_id, key = enrolled
    tables = {}
    for name in ("booted", "pulled"):
        shutil.copyfile(node_template, tmp_path / f"{name}.sqlite")
        db = Database(f"sqlite:///{tmp_path / name}.sqlite")
        install_identity(db, node_id, 1, key, central_url=live_central)
        client = CentralClient(live_central, node_id, key, timeout=5)
        try:
            bootstrap(db, client) if name == "booted" else pull(db, client)
            with db.read() as s:
                tables[name] = {t: sorted(tuple(r) for r in s.execute(text(f"SELECT * FROM {t}")))
                                for t in ("offers", "offer_profiles")}
        finally:
            client.http.close()
            db.dispose()
    assert tables["booted"] == tables["pulled"]
    assert sorted(r[0] for r in tables["booted"]["offers"]) == [kept, changed]
    assert len(tables["booted"]["offer_profiles"]) == 2  # Anna's newest, and Olga's


def test_the_offers_report_gives_response_and_uplift_in_the_readers_reach(
        central_app, central_db, seeded, tills):
    import csv
    import io

    from tests.helpers import staff_auth as who
    pos1, db1 = tills["pos-1"]
    pos2, db2 = tills["pos-2"]
    coffee = publish_offer(central_db, COFFEE, [MILK], discount_bp=1000)
    chocolate = publish_offer(central_db, CHOCOLATE, [MILK], discount_bp=500)
    publish_profile(central_db, ANNA)
    publish_profile(central_db, IVAN, held_out=True)
    publish_profile(central_db, OLGA)
    for db in (db1, db2):
        sync_now(db)

    def visit(client, card, *skus, paid=True):
        identify(client, card)
        for sku in skus:
            add(client, sku=sku)
        if paid:
            return pay(client)["total_minor"]
        assert client.post("/api/v1/cart/void", json={"reason": "left"}).status_code == 200

    took = visit(pos1, ANNA, MILK, COFFEE)          # target, takes the coffee: 89.90 + 1341.00
    anyway = visit(pos1, IVAN, MILK, COFFEE)        # held out, buys it anyway: 89.90 + 1490.00
    held = visit(pos1, IVAN, MILK)                  # held out, milk only
    olga = visit(pos2, OLGA, MILK)                  # target in Saint Petersburg, milk only
    visit(pos1, ANNA, MILK, paid=False)             # target, a voided cart: shown, no visit
    assert (took, anyway, held, olga) == (143090, 157990, 8990, 8990)
    for db in (db1, db2):
        sync_now(db)
    assert nothing_quarantined(central_db)

    api = central_app.test_client()
    report = api.get("/api/v1/reports/offers", headers=who(seeded, "office"))
    assert report.status_code == 200, report.json
    rows = {r["offer_id"]: r for r in report.json["rows"]}
    target, holdout = (took + olga) / 2, (anyway + held) / 2
    uplift = round((target - holdout) / holdout, 4)
    assert rows[coffee] == {
        "key": f"{coffee}: Coffee beans 1 kg", "offer_id": coffee, "product": "Coffee beans 1 kg",
        "shown": 3, "accepted": 1, "response_rate": 0.3333, "held_out": 2,
        "held_out_bought": 1, "target_sales": 2, "target_revenue_per_visit_minor": 76040,
        "holdout_sales": 2, "holdout_revenue_per_visit_minor": 83490, "uplift": uplift}
    assert (rows[chocolate]["shown"], rows[chocolate]["accepted"], rows[chocolate]["held_out"],
            rows[chocolate]["held_out_bought"]) == (3, 0, 2, 0)
    # Each sale once in the totals, though its cart showed both offers.
    assert report.json["totals"] == {
        "shown": 6, "accepted": 1, "response_rate": 0.1667, "held_out": 4,
        "held_out_bought": 1, "target_sales": 2, "target_revenue_per_visit_minor": 76040,
        "holdout_sales": 2, "holdout_revenue_per_visit_minor": 83490, "uplift": uplift}

    spb = api.get("/api/v1/reports/offers", headers=who(seeded, "rm-spb")).json
    assert {r["offer_id"]: (r["shown"], r["held_out"], r["uplift"]) for r in spb["rows"]} == {
        coffee: (1, 0, None), chocolate: (1, 0, None)}
    s001 = api.get("/api/v1/reports/offers", headers=who(seeded, "sm-s001")).json
    assert s001["totals"]["shown"] == 4 and s001["totals"]["held_out"] == 4

    exported = api.get("/api/v1/reports/offers?format=csv", headers=who(seeded, "office"))
    assert exported.mimetype == "text/csv"
    table = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert [(int(r["offer_id"]), int(r["shown"]), r["uplift"]) for r in table] == [
        (r["offer_id"], r["shown"], str(r["uplift"])) for r in report.json["rows"]]
    assert api.get("/api/v1/reports/offers?from=2020-01-01&to=2020-01-02",
                   headers=who(seeded, "office")).json["rows"] == []


def offer_lines(cart: dict) -> list[tuple]:
    """The cart's lines as (sku, quantity, offer_id, discount_minor, amount_minor)."""
    return [(ln["sku"], int(ln["quantity"]), ln["offer_id"], ln["discount_minor"],
             ln["amount_minor"]) for ln in cart["lines"]]


def test_an_offer_whose_trigger_left_the_cart_is_not_taken_and_a_line_loses_it(
        tills, central_db):
    client, db = tills["pos-1"]
    offer_id = publish_offer(central_db, COFFEE, [MILK])
    publish_profile(central_db, ANNA)
    sync_now(db)
    identify(client, ANNA)
    assert [o["offer_id"] for o in add(client, sku=MILK)["offers"]] == [offer_id]
    removed = client.delete("/api/v1/cart/lines/1").json  # the milk goes back
    assert removed["offers"] == []
    cart = add(client, sku=COFFEE)  # not offered any more: the shelf price
    assert offer_lines(cart) == [(COFFEE, 1, None, 0, 149000)]
    assert client.delete("/api/v1/cart/lines/1").status_code == 200

    add(client, sku=MILK)
    assert offer_lines(add(client, sku=COFFEE))[1] == (COFFEE, 1, offer_id, 14900, 134100)
    cart = client.delete("/api/v1/cart/lines/1").json  # the milk goes: so does the offer
    assert offer_lines(cart) == [(COFFEE, 1, None, 0, 149000)]
    assert cart["offers"] == [] and cart["total_minor"] == 149000
    assert client.get("/api/v1/cart").json["lines"][0]["offer_id"] is None
    cart = add(client, sku=MILK)  # the milk back: the coffee is in the cart, nothing offered
    assert cart["offers"] == [] and offer_lines(cart)[0] == (COFFEE, 1, None, 0, 149000)
    sale = pay(client)
    assert [ln["offer_id"] for ln in sale["lines"]] == [None, None]
    (event,) = shown_events(db)  # shown, recorded once, not accepted
    assert (event["offer_id"], event["sale_id"], event["accepted"]) == (
        offer_id, sale["id"], False)


def coffee_on_offer(client, db, offer_id: int) -> None:
    """After central's change: sync, Anna's card, milk, and the coffee taken on the offer."""
    sync_now(db)
    identify(client, ANNA)
    add(client, sku=MILK)
    assert offer_lines(add(client, sku=COFFEE))[1][2] == offer_id


def test_an_offer_switched_off_or_a_consent_withdrawn_mid_cart_is_no_longer_taken(
        tills, central_db):
    client, db = tills["pos-1"]
    offer_id = publish_offer(central_db, COFFEE, [MILK])
    publish_profile(central_db, ANNA)
    sync_now(db)

    # Switched off before the coffee is scanned, then after: the shelf price either way.
    for off in ({"active": False}, {"deleted": True}):
        change_offer(central_db, offer_id, active=True)
        sync_now(db)
        identify(client, ANNA)
        assert add(client, sku=MILK)["offers"] != []
        change_offer(central_db, offer_id, **off)
        sync_now(db)
        assert offer_lines(add(client, sku=COFFEE))[1] == (COFFEE, 1, None, 0, 149000), off
        assert client.post("/api/v1/cart/void", json={"reason": "test"}).status_code == 200

        change_offer(central_db, offer_id, active=True)
        coffee_on_offer(client, db, offer_id)
        change_offer(central_db, offer_id, **off)
        sync_now(db)
        cart = add(client, sku=BREAD)  # the next change of the cart takes the offer back
        assert offer_lines(cart)[1] == (COFFEE, 1, None, 0, 149000), off
        assert cart["total_minor"] == 8990 + 149000 + 5490
        assert client.post("/api/v1/cart/void", json={"reason": "test"}).status_code == 200

    # Consent withdrawn (the profile's tombstone) with the coffee in the cart.
    change_offer(central_db, offer_id, active=True)
    coffee_on_offer(client, db, offer_id)
    publish_profile(central_db, ANNA, deleted=True)
    sync_now(db)
    cart = client.patch("/api/v1/cart/lines/1", json={"quantity": 2}).json
    assert offer_lines(cart) == [(MILK, 2, None, 0, 2 * 8990), (COFFEE, 1, None, 0, 149000)]
    sale = pay(client)
    assert [ln["offer_id"] for ln in sale["lines"]] == [None, None]
    assert not any(e["accepted"] for e in shown_events(db))

    # Switched off by a pull with the coffee already in the cart and no change since: paying
    # takes the offer back, and the cashier is told the new total.
    publish_profile(central_db, ANNA)
    coffee_on_offer(client, db, offer_id)
    change_offer(central_db, offer_id, active=False)
    sync_now(db)
    ended = client.post("/api/v1/cart/checkout", json={"payments": [
        {"method": "cash", "amount": 8990 + 134100}]})
    assert (ended.status_code, ended.json["error"]) == (409, "offer_ended"), ended.json
    assert client.get("/api/v1/cart").json["total_minor"] == 8990 + 149000
    assert [ln["offer_id"] for ln in pay(client)["lines"]] == [None, None]


def test_an_offer_is_one_unit_more_of_the_product_is_at_the_shelf_price(tills, central_db):
    client, db = tills["pos-1"]
    offer_id = publish_offer(central_db, COFFEE, [MILK])
    publish_profile(central_db, ANNA)
    sync_now(db)
    identify(client, ANNA)
    add(client, sku=MILK)
    add(client, sku=COFFEE)
    cart = add(client, sku=COFFEE)  # scanning again: a line of its own at the shelf price
    assert offer_lines(cart)[1:] == [(COFFEE, 1, offer_id, 14900, 134100),
                                     (COFFEE, 1, None, 0, 149000)]
    cart = add(client, sku=COFFEE)  # and on, counting up that line
    assert offer_lines(cart)[1:] == [(COFFEE, 1, offer_id, 14900, 134100),
                                     (COFFEE, 2, None, 0, 298000)]
    # More on the offer's line: it keeps one, the rest joins the shelf-price line.
    cart = client.patch("/api/v1/cart/lines/2", json={"quantity": 3}).json
    assert offer_lines(cart)[1:] == [(COFFEE, 1, offer_id, 14900, 134100),
                                     (COFFEE, 4, None, 0, 596000)]
    assert cart["total_minor"] == 8990 + 134100 + 596000
    sale = pay(client)
    assert [ln["offer_id"] for ln in sale["lines"]] == [None, offer_id, None]
    (event,) = shown_events(db)
    assert event["accepted"] is True

    # Five scanned at once (the quantity keyed first): one under the offer, four at the shelf's.
    identify(client, ANNA)
    add(client, sku=MILK)
    cart = add(client, sku=COFFEE, quantity=5)
    assert offer_lines(cart)[1:] == [(COFFEE, 1, offer_id, 14900, 134100),
                                     (COFFEE, 4, None, 0, 596000)]
    assert client.delete("/api/v1/cart/lines/3").status_code == 200
    cart = client.patch("/api/v1/cart/lines/2", json={"quantity": 2}).json  # no other line
    assert offer_lines(cart)[1:] == [(COFFEE, 1, offer_id, 14900, 134100),
                                     (COFFEE, 1, None, 0, 149000)]
