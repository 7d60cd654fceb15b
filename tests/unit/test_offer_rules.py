"""Personal offers in the pure cart rules: which offers a cart gets, in what order, and how a
line taken under an offer is priced beside promotions and the cashier's discounts."""

import uuid

import pytest

from kassa.common.errors import KassaError
from kassa.pos_node.sale.cart import (
    Entry,
    Item,
    OfferProfile,
    OfferRule,
    Promotion,
    choose_offers,
    offer_applies,
    offer_price,
    offer_quantity,
    price,
)
from kassa.pos_node.sale.offers import Shown, kept, line_offer

MILK, COFFEE, TEA, CHOC = 1, 8, 9, 12
COFFEE_ITEM = Item(COFFEE, "3001", "Coffee", "pcs", 2000, 149000)
TEA_ITEM = Item(TEA, "3002", "Tea", "pcs", 2000, 34990)
CHAMPION = OfferProfile("Champions", offers_ok=True, held_out=False)


def rule(id_, product, triggers=(), bp=1000, segments=None):
    return OfferRule(id_, product, frozenset(triggers),
                     bp, None if segments is None else frozenset(segments))


def chosen(rules, profile=CHAMPION, cart=()):
    return [r.id for r in choose_offers(rules, profile, set(cart))]


def test_an_offer_needs_every_trigger_in_the_cart_and_its_product_not():
    rules = [rule(1, COFFEE, [MILK]), rule(2, TEA, [MILK, CHOC])]
    assert chosen(rules) == []
    assert chosen(rules, cart=[MILK]) == [1]
    assert chosen(rules, cart=[MILK, CHOC]) == [1, 2]
    assert chosen(rules, cart=[MILK, CHOC, COFFEE]) == [2]  # coffee is in the cart already


def test_an_offer_without_triggers_is_made_as_soon_as_the_customer_is_known():
    assert chosen([rule(1, TEA)]) == [1]


def test_only_consenting_customers_of_the_offers_segments_get_offers():
    rules = [rule(1, COFFEE, segments=["Champions", "Loyal"]), rule(2, TEA)]
    assert chosen(rules) == [1, 2]
    assert chosen(rules, OfferProfile("Lost", True, False)) == [2]
    assert chosen(rules, OfferProfile(None, True, False)) == [2]
    assert chosen(rules, OfferProfile("Champions", False, False)) == []
    assert chosen(rules, None) == []
    # The hold-out group is chosen for like anyone: the till records, and shows nothing.
    assert chosen(rules, OfferProfile("Champions", True, True)) == [1, 2]


def test_the_best_discount_first_then_the_oldest_offer_and_one_per_product():
    rules = [rule(5, TEA, bp=500), rule(3, COFFEE, bp=1500), rule(2, CHOC, bp=1000),
             rule(1, TEA, bp=1000), rule(4, CHOC, bp=1000)]
    assert chosen(rules) == [3, 1, 2]


def test_a_line_under_an_offer_takes_its_discount_after_the_promotion():
    sale = price([Entry(TEA_ITEM, 1000, offer_id=7, offer_discount_bp=1000)],
                 [Promotion(2, "percent", frozenset({TEA}), percent_bp=1500)])
    line = sale.lines[0]
    # 15 % of 349.90 is 52.485, rounded half up to 52.49; then 10 % of the 297.41 left.
    assert line.promo_discount_minor == 5249 and line.promotion_id == 2
    assert line.offer_id == 7 and line.offer_discount_minor == 2974
    assert line.amount_minor == 29741 - 2974
    assert line.discount_minor == 5249 + 2974


def test_the_cashiers_line_discount_and_the_receipt_discount_come_on_top():
    sale = price([Entry(COFFEE_ITEM, 2000, line_discount_bp=500, offer_id=3,
                        offer_discount_bp=1000)], receipt_discount_bp=1000)
    line = sale.lines[0]
    assert line.offer_discount_minor == 29800  # 10 % of 2 x 1490.00
    assert line.amount_minor == 298000 - 29800 - 13410 - 25479  # then 5 %, then 10 %
    assert sale.total_minor == line.amount_minor


def test_an_offer_discount_outside_0_to_100_percent_is_refused():
    with pytest.raises(KassaError):
        price([Entry(COFFEE_ITEM, 1000, offer_id=1, offer_discount_bp=10001)])


def test_the_offer_price_is_the_shelf_price_less_the_discount():
    assert offer_price(149000, 1000) == 134100
    assert offer_price(8990, 1500) == 7641  # 13.485 off, rounded half up to 13.49


def test_an_offer_holds_while_its_triggers_consent_and_segment_do():
    coffee = rule(1, COFFEE, [MILK], segments=["Champions"])
    assert offer_applies(coffee, CHAMPION, {MILK, COFFEE})  # its product in the cart too
    assert not offer_applies(coffee, CHAMPION, {COFFEE})  # the milk went back
    assert not offer_applies(coffee, None, {MILK})  # consent withdrawn: no profile
    assert not offer_applies(coffee, OfferProfile("Champions", False, False), {MILK})
    assert not offer_applies(coffee, OfferProfile("Lost", True, False), {MILK})


def test_an_offer_is_for_one_piece_or_one_weighing():
    assert offer_quantity("pcs", 1000) == 1000
    assert offer_quantity("pcs", 5000) == 1000
    assert offer_quantity("kg", 1234) == 1234


ANNA, IVAN = uuid.uuid4(), uuid.uuid4()


def shown(offer_id, product, bp=1000, who=ANNA, held_out=False):
    return Shown(offer_id, who, product, bp, held_out)


def test_a_scanned_line_takes_a_standing_offer_only_while_its_product_is_not_in_the_cart():
    live = {1: shown(1, COFFEE), 2: shown(2, COFFEE, bp=1500), 3: shown(3, TEA)}
    assert line_offer(live, COFFEE, {MILK}).offer_id == 2  # the larger discount
    assert line_offer(live, COFFEE, {MILK, COFFEE}) is None  # taken already, or lost
    assert line_offer(live, CHOC, {MILK}) is None
    assert line_offer({}, COFFEE, {MILK}) is None  # nothing stands


def test_a_line_keeps_its_offer_while_it_stands_and_the_first_line_only():
    live = {1: shown(1, COFFEE)}
    assert kept(live, [(None, MILK), (1, COFFEE), (1, COFFEE), (2, TEA), (1, TEA)]) == [
        False, True, False, False, False]
    assert kept({}, [(1, COFFEE)]) == [False]
