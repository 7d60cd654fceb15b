"""A till with a fiscal register, by keyboard in a real Chromium: the register (the ATOL
simulator, over real HTTP) runs out of paper at payment; the cashier reads why in the till's
language, the sale stays open, and completes once, fiscalised, when paper is back; the receipt
shows its fiscal attributes. In English, then in Russian (with an e-receipt asked for)."""

import pytest
import requests
from playwright.sync_api import expect

from kassa.pos_node.devices.atol_simulator import Simulator
from tests.e2e.conftest import run_kassa, till_stack
from tests.e2e.test_till_ui import close_shift, ready, scan, sign_in_and_open_shift

pytestmark = pytest.mark.e2e

MILK = "4600000010010"


@pytest.fixture(scope="module")
def fiscal_stack(tmp_path_factory, seeded_central):
    """Central and pos-1 as real processes; pos-1's register is the simulator."""
    sim = Simulator().start()
    try:
        with till_stack(tmp_path_factory.mktemp("fiscal-stack"), seeded_central,
                        {"KASSA_FISCAL": f"atol+{sim.url}"}) as made:
            yield {**made, "sim": sim}
    finally:
        sim.stop()


def paper(stack, present: bool) -> None:
    requests.post(f"{stack['sim'].url}/sim/state", json={"paper": present},
                  timeout=5).raise_for_status()


def sells(stack) -> list[dict]:
    return [e for e in requests.get(f"{stack['sim'].url}/sim/journal", timeout=5).json()
            if e["type"] == "sell"]


def set_store_language(stack, locale: str) -> None:
    requests.patch(stack["central"] + "/api/v1/stores/1", json={"locale": locale}, timeout=10,
                   auth=("office", stack["users"]["office"]["password"])).raise_for_status()
    run_kassa("pos", "sync-now", env=stack["node_env"])


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_paper_out_keeps_the_sale_open_and_it_completes_once_when_paper_is_back(
        page, fiscal_stack, lang):
    words = {
        "en": {"headings": ("Sign in", "Open a shift"), "float": "1000", "pay": "Payment: ",
               "refused": "The fiscal register is out of paper", "fd": "Fiscal document (FD)",
               "close": ("X report", "Close shift", "Z report", "Open a shift")},
        "ru": {"headings": ("Вход", "Открытие смены"), "float": "1 000,00", "pay": "Оплата: ",
               "refused": "В ККТ закончилась бумага", "fd": "ФД",
               "close": ("X-отчёт", "Закрыть смену", "Z-отчёт", "Открытие смены")},
    }[lang]
    set_store_language(fiscal_stack, lang)
    try:
        before = len(sells(fiscal_stack))
        sign_in_and_open_shift(page, fiscal_stack, words["float"], headings=words["headings"])
        scan(page, MILK)
        expect(page.locator("#cart tbody tr")).to_have_count(1)
        paper(fiscal_stack, False)
        page.keyboard.press("F9")
        expect(page.locator("#dialog-title")).to_contain_text(words["pay"])
        page.keyboard.type("500")
        if lang == "ru":  # the customer wants the receipt by e-mail: the last field
            for _ in range(3):
                page.keyboard.press("Tab")
            page.keyboard.type("ivan@example.com")
        page.keyboard.press("Enter")
        expect(page.locator("#dialog-error")).to_contain_text(words["refused"])
        page.shot(f"till-fiscal-paper-out-{lang}")
        assert len(sells(fiscal_stack)) == before  # nothing registered
        page.keyboard.press("Escape")               # the sale is still there, open
        expect(page.locator("#cart tbody tr")).to_have_count(1)
        expect(page.locator("#last")).to_be_hidden()
        paper(fiscal_stack, True)
        page.keyboard.press("F9")
        page.keyboard.type("500")
        if lang == "ru":
            for _ in range(3):
                page.keyboard.press("Tab")
            page.keyboard.type("ivan@example.com")
        page.keyboard.press("Enter")
        expect(page.locator("#last-receipt")).to_be_visible()
        registered = sells(fiscal_stack)
        assert len(registered) == before + 1        # once
        if lang == "ru":
            assert registered[-1]["task"]["clientInfo"] == {"emailOrPhone": "ivan@example.com"}
        receipt = page.locator("#last-receipt").inner_text()
        page.goto(f"{fiscal_stack['node']}/receipts/{receipt}")
        expect(page.locator("#receipt-fiscal")).to_contain_text(words["fd"])
        expect(page.locator("#fiscal-document")).to_have_text(
            str(registered[-1]["fiscalDocumentNumber"]))
        expect(page.locator("#fiscal-sign")).to_have_text(registered[-1]["fiscalDocumentSign"])
        expect(page.locator("#not-fiscal")).to_have_count(0)
        page.shot(f"till-fiscal-receipt-{lang}")
        page.goto(fiscal_stack["node"] + "/")
        ready(page)
        close_shift(page, "1000" if lang == "en" else "1 000,00", words["close"])
    finally:
        set_store_language(fiscal_stack, "en")
