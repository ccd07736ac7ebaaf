"""The welcome kit: a one-page PDF introducing the team a buyer will work with (photos, roles, fun facts, what
happens next, who to call), built from the team profile and the deal, and shared once into the deal's thread."""
