"""Deals that arrive from a CRM: webhooks stored in a durable inbox, turned into deals by a worker."""
