"""``kassa card ...``: issue, block, replace loyalty cards and set their web PIN at central; list
the PC/SC readers; be a card in pcscd's virtual reader."""

from __future__ import annotations

import click

from kassa.cli.apps import (
    central_work,
    fail,
)
from kassa.common.config import CentralConfig
from kassa.common.errors import KassaError


@click.group("card", help="Loyalty cards: issue and block at central; emulate a card.")
def card() -> None:
    pass


def _customer_account(session, who: str):
    from sqlalchemy import select

    from kassa.central.membership.loyalty_accounts import open_account
    from kassa.central.models import Customer
    from kassa.common.errors import Invalid
    from kassa.common.formats.contacts import normal_email, normal_phone

    def spelled(normal):  # a phone or an e-mail as people write it, kept in one spelling
        try:
            return normal(who)
        except Invalid:
            return None
    phone, email = spelled(normal_phone), spelled(normal_email)
    customer = session.scalars(select(Customer).where(
        (Customer.card_number == who) | (Customer.phone == (phone or who))
        | (Customer.email == (email or who)), Customer.merged_into_id.is_(None))).first()
    if customer is None:
        fail(KassaError(f"No customer with card number, phone or e-mail {who!r}.",
                         code="customer_not_found"))
    return open_account(session, customer)


def _write_card_file(state, out) -> None:
    from pathlib import Path

    from kassa.smartcard.applet import save_card
    save_card(state, Path(out))


@card.command("issue")
@click.option("--customer", "who", default=None, help="the customer's card number, phone or "
              "e-mail")
@click.option("--stock", type=click.IntRange(1, 10_000), default=None,
              help="N cards for a store's stock, no customer yet (tills give them to new "
                   "members)")
@click.option("--store", "store_code", default=None, help="the store whose stock (--stock)")
@click.option("--printed", is_flag=True,
              help="numbers for printed cards (barcodes), not smart cards (--stock)")
@click.option("--out", default=None, type=click.Path(writable=True),
              help="the card file to write; with --stock, the directory for one file per "
                   "card (the virtual card runs from a card file)")
@click.option("--pin", default=None, help="4-8 digits; asked before points are spent")
def card_issue(who: str | None, stock: int | None, store_code: str | None, printed: bool,
               out: str | None, pin: str | None) -> None:
    """Issue an active card to a customer, or cards for a store's stock (central): key pair,
    issuer certificate, card file; printed stock cards are numbers only. Prints the numbers."""
    from kassa.central.membership import cards
    if (who is None) == (stock is None):
        raise click.UsageError("Give --customer or --stock.")
    if stock is not None:
        _issue_stock(stock, store_code, printed, out)
        return
    assert who is not None  # one of the two, checked above
    if out is None:
        raise click.UsageError("--out: the card file to write.")
    key_dir = CentralConfig.from_env().issuer_key_dir
    with central_work() as session:
        state = cards.issue(session, _customer_account(session, who), key_dir, pin=pin)
        cards.activate(session, state.card_number)
    _write_card_file(state, out)
    click.echo(state.card_number)


def _issue_stock(count: int, store_code: str | None, printed: bool, out: str | None) -> None:
    from pathlib import Path

    from kassa.central.catalog.stores import store_by_code
    from kassa.central.membership import cards
    from kassa.common.storage.private import private_dir
    if store_code is None:
        raise click.UsageError("--store: whose stock the cards are.")
    if not printed and out is None:
        raise click.UsageError("--out: the directory for the card files.")
    key_dir = CentralConfig.from_env().issuer_key_dir
    with central_work() as session:
        made = cards.issue_stock(session, store_by_code(session, store_code), count, key_dir,
                                 printed=printed)
    for item in made:
        if isinstance(item, str):
            click.echo(item)
        else:
            assert out is not None  # checked above for smart cards
            private_dir(Path(out))  # each card file holds its card's private key
            _write_card_file(item, Path(out) / f"{item.card_number}.card")
            click.echo(item.card_number)


@card.command("block")
@click.argument("number")
@click.option("--reason", required=True, type=click.Choice(["lost", "stolen", "damaged",
                                                            "fraud"]))
def card_block(number: str, reason: str) -> None:
    """Block a card (central); every till refuses it from its next pull."""
    from kassa.central.membership import cards
    with central_work() as session:
        cards.block(session, number, reason)
    click.echo(f"card {number} blocked ({reason})")


@card.command("web-pin")
@click.argument("number")
@click.option("--pin", default=None, help="4-8 digits; default: a new random 6-digit PIN")
def card_web_pin(number: str, pin: str | None) -> None:
    """Set the PIN the card's holder signs in with at /my/ (central; printed once)."""
    import secrets

    from kassa.central.selfservice import my_account as selfservice
    pin = pin or f"{secrets.randbelow(10**6):06d}"
    with central_work() as session:
        selfservice.set_web_pin(session, number, pin)
    click.echo(pin)


@card.command("replace")
@click.argument("number")
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True))
@click.option("--pin", default=None)
def card_replace(number: str, out: str, pin: str | None) -> None:
    """A new card for the same account; the old one is blocked everywhere."""
    from kassa.central.membership import cards
    key_dir = CentralConfig.from_env().issuer_key_dir
    with central_work() as session:
        state = cards.replace(session, number, key_dir, pin=pin)
    _write_card_file(state, out)
    click.echo(state.card_number)


@card.command("readers")
def card_readers() -> None:
    """List the PC/SC readers pcscd knows, and which hold a card."""
    from smartcard.Exceptions import NoCardException, SmartcardException
    from smartcard.pcsc.PCSCExceptions import BaseSCardException
    from smartcard.System import readers
    try:
        found = readers()
    except (SmartcardException, BaseSCardException) as err:
        raise click.ClickException(f"pcscd does not answer ({err}); is it running?") from err
    if not found:
        click.echo("no readers")
    for reader in found:
        connection = reader.createConnection()
        try:
            connection.connect()
            atr = " ".join(f"{b:02X}" for b in connection.getATR())
            state = f"card present (ATR {atr})"
        except (NoCardException, SmartcardException):
            state = "empty"
        finally:
            try:
                connection.release()
            except SmartcardException:
                pass
        click.echo(f"{reader}\t{state}")


@card.command("emulate")
@click.argument("card_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="where pcscd's vpcd "
              "driver listens")
@click.option("--port", default=35963, show_default=True, type=int,
              help="35963 is the first virtual reader")
def card_emulate(card_file: str, host: str, port: int) -> None:
    """Be the card in CARD_FILE in pcscd's virtual reader until Ctrl-C (state saved to the
    file atomically after every change)."""
    import signal
    import threading
    from pathlib import Path

    from kassa.smartcard.applet import LoyaltyCardApplet, load_card
    from kassa.smartcard.vpcd import VirtualCard

    path = Path(card_file)
    applet = LoyaltyCardApplet(load_card(path), path)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"card {applet.state.card_number} in the virtual reader at {host}:{port}")
    VirtualCard(applet, host=host, port=port).run(stop)

