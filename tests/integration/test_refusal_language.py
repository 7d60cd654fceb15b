"""A refusal speaks the reader's language: central answers a person without a language of their
own in the browser's (``Accept-Language``), with the same machine code whatever the language."""

import uuid

from kassa.common.i18n import translations
from tests.helpers import staff_auth as who


def test_a_refusal_comes_in_the_browsers_language_with_the_same_code(central_app, seeded):
    client = central_app.test_client()
    office = who(seeded, "office")
    path = "/api/v1/cards/77700000000000xx/block"  # not a card number: "No card ..."
    english = client.post(path, json={"reason": "lost"}, headers=office)
    russian = client.post(path, json={"reason": "lost"},
                          headers={**office, "Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert english.status_code == russian.status_code == 404
    assert english.json == {"error": "card_not_found", "message": "No card 77700000000000xx."}
    assert russian.json["error"] == "card_not_found"
    expected = translations("ru").gettext("No card %(number)s.") % {
        "number": "77700000000000xx"}
    assert russian.json["message"] == expected != english.json["message"]
    assert "77700000000000xx" in expected and any("а" <= c <= "я" for c in expected.lower())
    # A refusal without values: its sentence as it is, in each language.
    path = f"/api/v1/tasks/{uuid.uuid4()}"
    english = client.get(path, headers={**office, "Accept-Language": "en-GB,en;q=0.8"})
    russian = client.get(path, headers={**office, "Accept-Language": "ru"})
    assert english.status_code == russian.status_code == 404
    assert english.json == {"error": "task_not_found", "message": "No such task."}
    assert russian.json == {"error": "task_not_found",
                            "message": translations("ru").gettext("No such task.")}
    assert russian.json["message"] != "No such task."
