"""How people write things down: spreadsheets' CSV (``spreadsheet``), phone numbers and
e-mail addresses (``contacts``)."""
