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
    customer = session.scalars(select(Customer).where(
        (Customer.card_number == who) | (Customer.phone == who) | (Customer.email == who)
    )).first()
    if customer is None:
        fail(KassaError(f"No customer with card number, phone or e-mail {who!r}.",
                         code="customer_not_found"))
    return open_account(session, customer)


def _write_card_file(state, out) -> None:
    from pathlib import Path

    from kassa.smartcard.applet import save_card
    save_card(state, Path(out))


@card.command("issue")
@click.option("--customer", "who", required=True, help="the customer's card number, phone or "
              "e-mail")
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="the card file to write (the virtual card runs from it)")
@click.option("--pin", default=None, help="4-8 digits; asked before points are spent")
def card_issue(who: str, out: str, pin: str | None) -> None:
    """Issue an active card to a customer (central): key pair, issuer certificate, card file."""
    from kassa.central.membership import cards
    key_dir = CentralConfig.from_env().issuer_key_dir
    with central_work() as session:
        state = cards.issue(session, _customer_account(session, who), key_dir, pin=pin)
        cards.activate(session, state.card_number)
    _write_card_file(state, out)
    click.echo(state.card_number)


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

    from kassa.central.membership import selfservice
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

