"""The loopback fake Slack in its own process, so the benchmark's server doesn't share a GIL with it.

python -m bench.fake_slack  -> prints the base URL, serves until stdin closes.
"""

from __future__ import annotations

import sys

from tests.fakeslack import FakeSlack

if __name__ == "__main__":
    with FakeSlack() as fake:
        print(fake.base_url, flush=True)
        sys.stdin.read()
