"""Which CRMs are on: each adapter builds itself from the settings, or stays off (None) until they are present."""

from __future__ import annotations

from bot.crm.hubspot import HubSpot
from bot.crm.pipedrive import Pipedrive
from bot.crm.salesforce import Salesforce
from bot.crm.types import Adapter
from bot.settings import Settings


def enabled(settings: Settings) -> dict[str, Adapter]:
    """name -> adapter, for every CRM whose settings are present; its route is POST /crm/<name>."""
    candidates = [
        HubSpot.from_settings(settings),
        Pipedrive.from_settings(settings),
        Salesforce.from_settings(settings),
    ]
    return {adapter.name: adapter for adapter in candidates if adapter is not None}
