"""The customer's own page (``/my/``): signing in with a card and web PIN or a mailed code,
their points, consents and lost cards, without staff in between."""
