"""The store's devices at a till (fiscal register, receipt printer, cash drawer), each an
adapter behind a small interface, chosen per till by configuration."""
