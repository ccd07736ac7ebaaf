"""Which CRMs are on: each adapter builds itself from the settings, or stays off (None) until they are present."""

from __future__ import annotations

from bot.crm.salesforce import Salesforce
from bot.crm.types import Adapter
from bot.settings import Settings


def enabled(settings: Settings) -> dict[str, Adapter]:
    """name -> adapter, for every CRM whose settings are present; its route is POST /crm/<name>."""
    candidates = [
        Salesforce.from_settings(settings),
        # HubSpot.from_settings(settings) and Pipedrive.from_settings(settings) join this list when their
        # adapters (bot/crm/hubspot.py, bot/crm/pipedrive.py) are merged.
    ]
    return {adapter.name: adapter for adapter in candidates if adapter is not None}
