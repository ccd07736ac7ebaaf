"""Load generator for the CRM webhook benchmark, run as its own process: a burst of Salesforce Outbound Messages.

python -m bench.crm_load PORT EVENTS CLIENTS
"""

from __future__ import annotations

import http.client
import sys
from concurrent.futures import ThreadPoolExecutor

from tests import soap


def burst(port: int, events: int, clients: int) -> None:
    """`events` messages of one notification each, from `clients` connections at once, as Salesforce's queue
    flushes after an outage."""

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(n, events, clients):
            body = soap.message((f"04l5g{i:010d}", soap.Opportunity(id=f"0065g{i:010d}", name=f"Bench {i}")))
            headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
            conn.request("POST", f"/crm/salesforce/{soap.TOKEN}", body=body, headers=headers)
            response = conn.getresponse()
            answer = response.read()
            if response.status != 200 or b"<Ack>true</Ack>" not in answer:
                raise SystemExit(f"HTTP {response.status}: {answer[:200]!r}")
        conn.close()

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))


if __name__ == "__main__":
    port, events, clients = sys.argv[1:4]
    burst(int(port), int(events), int(clients))
