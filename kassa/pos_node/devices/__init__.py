"""The store's devices at a till (fiscal register, receipt printer, cash drawer), each an
adapter behind a small interface, chosen per till by configuration.

``fiscal`` is the register's interface and ``atol`` its one adapter (the ATOL driver's JSON
tasks), ``atol_simulator`` a register for tests and the demo. ``slips`` lays out what is
printed (plain Python), ``escpos_printer`` is the one printer adapter (ESC/POS through
python-escpos), ``print_queue`` keeps the jobs in the till's database and ``print_worker``
prints them in the background; ``printer_sim`` is a virtual network printer for tests and the
demo.
"""
