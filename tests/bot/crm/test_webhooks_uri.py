"""The path and query a CRM webhook's signature is checked over: as the CRM sent them, whichever WSGI server runs."""

from __future__ import annotations

import pytest

from bot.crm.webhooks import as_received


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        # waitress: REQUEST_URI is the raw target; PATH_INFO is decoded
        (
            {
                "REQUEST_URI": "/crm/hubspot/eu%20wins?a=b%26c",
                "PATH_INFO": "/crm/hubspot/eu wins",
                "QUERY_STRING": "a=b%26c",
            },
            "/crm/hubspot/eu%20wins?a=b%26c",
        ),
        # gunicorn: RAW_URI
        ({"RAW_URI": "/crm/hubspot?x=%3A", "PATH_INFO": "/crm/hubspot", "QUERY_STRING": "x=%3A"}, "/crm/hubspot?x=%3A"),
        # a request in absolute form (as to a proxy): only its path and query
        (
            {"REQUEST_URI": "http://dealcoach.example.com/crm/hubspot?x=1", "PATH_INFO": "/crm/hubspot"},
            "/crm/hubspot?x=1",
        ),
        # a server that keeps no raw target: PATH_INFO (WSGI's latin-1 of the UTF-8 bytes) encoded again, the query as is
        (
            {"SCRIPT_NAME": "/bot", "PATH_INFO": "/crm/hubspot/eu wins/\xc3\xa9", "QUERY_STRING": "q=%C3%A9"},
            "/bot/crm/hubspot/eu%20wins/%C3%A9?q=%C3%A9",
        ),
        ({"PATH_INFO": "/crm/hubspot", "QUERY_STRING": ""}, "/crm/hubspot"),
    ],
    ids=["waitress", "gunicorn", "absolute-form", "no-raw-target", "no-query"],
)
def test_the_path_and_query_are_the_ones_the_crm_sent(environ, expected):
    assert as_received(environ) == expected
