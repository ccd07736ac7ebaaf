"""The one way adapters call a CRM's API: what counts as "try again later" and what as "never", and no token leaks."""

from __future__ import annotations

import pytest

from bot.crm.apiclient import JsonApi, retry_after
from bot.crm.types import CrmRefused, CrmUnavailable
from tests.fakecrm import FakeHubSpot


@pytest.fixture
def hubspot_api():
    with FakeHubSpot() as api:
        api.add_deal("123")
        yield api


@pytest.fixture
def api(hubspot_api):
    return JsonApi("HubSpot", hubspot_api.base_url, {"Authorization": f"Bearer {hubspot_api.token}"}, timeout=0.5)


DEAL = "/crm/v3/objects/deals/123"


def test_an_answer_is_its_json(api):
    assert api.get(DEAL)["id"] == "123"
    assert api.get("/crm/v3/objects/deals/9", missing_ok=True) is None


def test_a_redirect_is_not_followed_so_the_token_stays_home(api, hubspot_api):
    hubspot_api.fail("deal", status=302, headers={"Location": "https://elsewhere.example.com/steal"})
    with pytest.raises(CrmUnavailable, match="redirect to https://elsewhere.example.com/steal: check the API URL"):
        api.get(DEAL)
    assert len(hubspot_api.calls) == 1  # nothing was sent to where it pointed


def test_a_proxys_error_page_is_unavailable_whatever_its_status(api, hubspot_api):
    hubspot_api.fail("deal", status=200, page=True)
    with pytest.raises(CrmUnavailable, match="not JSON"):
        api.get(DEAL)
    hubspot_api.fail("deal", status=502, page=True)
    with pytest.raises(CrmUnavailable, match="502"):
        api.get(DEAL)


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_a_request_the_crm_will_never_accept_is_refused_for_good(api, hubspot_api, status):
    hubspot_api.fail("deal", status=status)
    with pytest.raises(CrmRefused, match=f"HubSpot answered {status} to GET {DEAL}: fake failure") as caught:
        api.get(DEAL)
    assert caught.value.status == status


@pytest.mark.parametrize(("status", "after"), [(429, 30), (503, 5), (408, None), (401, None), (403, None)])
def test_what_may_work_later_is_unavailable(api, hubspot_api, status, after):
    hubspot_api.fail("deal", status=status, retry_after=after)
    with pytest.raises(CrmUnavailable) as caught:
        api.get(DEAL)
    assert caught.value.retry_after == after


@pytest.mark.parametrize(
    ("header", "seconds"), [("7", 7.0), (" 0 ", 0.0), ("2.5", 2.5), (None, None), ("", None), ("-3", None)]
)
def test_retry_after_is_read_in_seconds(header, seconds):
    assert retry_after(header) == seconds


def test_retry_after_as_a_date_is_left_to_the_core_backoff():
    assert retry_after("Wed, 21 Oct 2026 07:28:00 GMT") is None


def test_no_message_carries_the_token_or_the_query(hubspot_api):
    token = "pat-na1-secret-0123456789"
    api = JsonApi("HubSpot", hubspot_api.base_url, {"Authorization": f"Bearer {token}"}, timeout=0.5)
    with pytest.raises(CrmUnavailable) as caught:
        api.get(DEAL, {"properties": "dealname", "hapikey": "legacy-key-0987"})
    assert token not in str(caught.value) and "legacy-key-0987" not in str(caught.value)
    assert str(caught.value).startswith(f"HubSpot answered 401 to GET {DEAL}")
