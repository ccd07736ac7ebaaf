"""A deal's listeners, as bot/deals is its domain: the capture (/closed-deal), its form, its lifecycle buttons."""
