"""The CRM: customers' canonical profiles, contacts from every channel, consents, data rights
(export, anonymize, merge), quotes and invoices, follow-up tasks and the mail they send.
"""
