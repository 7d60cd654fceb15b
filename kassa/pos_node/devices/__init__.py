"""The store's devices at a till: the receipt printer and the cash drawer kicked through it.

``slips`` lays out what is printed (plain Python), ``escpos_printer`` is the one printer adapter
(ESC/POS through python-escpos), ``print_queue`` keeps the jobs in the till's database and
``print_worker`` prints them in the background; ``printer_sim`` is a virtual network printer
for tests and the demo.
"""
