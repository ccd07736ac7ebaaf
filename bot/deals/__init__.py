"""Deals: capture, the deal model and its SQL, its channel message and forms; where a new deal field goes."""
