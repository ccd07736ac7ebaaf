"""The CRM fakes check tokens as the CRMs do, so a test that passes against them would pass against the real API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.fakecrm import FakeHubSpot, FakePipedrive


def status_of(url: str, headers: dict[str, str]) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as response:
            json.loads(response.read())
            return response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


def test_fake_hubspot_wants_its_bearer_token():
    with FakeHubSpot() as hubspot:
        hubspot.add_deal("1")
        url = hubspot.base_url + "/crm/v3/objects/deals/1"
        assert status_of(url, {"Authorization": f"Bearer {hubspot.token}"}) == 200
        assert status_of(url, {"Authorization": "Bearer someone-else"}) == 401
        assert status_of(url, {}) == 401


def test_fake_pipedrive_wants_its_token_in_the_header_and_records_one_in_the_url():
    with FakePipedrive() as pipedrive:
        pipedrive.add_deal(1)
        url = pipedrive.base_url + "/v2/deals/1"
        assert status_of(url, {"x-api-token": pipedrive.token}) == 200
        assert pipedrive.violations == []
        assert status_of(f"{url}?api_token={pipedrive.token}", {}) == 401
        assert pipedrive.violations == ["GET /api/v2/deals/1: the API token was sent in the URL"]


@pytest.mark.parametrize("fake", [FakeHubSpot, FakePipedrive])
def test_fakes_record_every_call_with_its_route(fake):
    with fake() as api:
        status_of(api.base_url + "/nowhere", {})
        [call] = api.calls
        assert call.route == "unknown" and call.method == "GET"
