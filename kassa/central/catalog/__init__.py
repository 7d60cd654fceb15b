"""What the chain sells and where: products and barcodes, prices (chain, region, store;
standing or scheduled), promotions, VAT rates, regions and stores, and their CSV imports.
"""
