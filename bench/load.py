"""Load generator for the ack benchmark, run as its own process so its CPU doesn't count against the server.

python -m bench.load PORT REQUESTS CLIENTS SECRET
"""

from __future__ import annotations

import http.client
import sys
from concurrent.futures import ThreadPoolExecutor

from tests import signing


def hammer(port: int, requests: int, clients: int, secret: str) -> None:
    """`clients` keep-alive connections sending signed quick captures as fast as the server answers."""

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(requests // clients):
            body = signing.command_body(text=f"Bench Account {n}-{i} $120k", user_id=f"U{n:04d}")
            headers = {"Content-Type": signing.FORM, **signing.sign(body, secret)}
            conn.request("POST", "/slack/events", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit(f"HTTP {response.status}")
        conn.close()

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))


if __name__ == "__main__":
    port, requests, clients, secret = sys.argv[1:5]
    hammer(int(port), int(requests), int(clients), secret)
