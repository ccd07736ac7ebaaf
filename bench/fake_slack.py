"""The loopback fake Slack in its own process, so the benchmark's server doesn't share a GIL with it.

python -m bench.fake_slack [--channel-interval S] [--workspace-posts N --workspace-window S]
  -> prints the base URL, serves until stdin closes, then prints how many posts it refused with a 429. With the options it enforces Slack's posting limits (a 429 for
  a post to a channel sooner than S seconds after its last one; for a post over N in any S-second window).
"""

from __future__ import annotations

import argparse
import sys

from tests.fakeslack import FakeSlack

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--channel-interval", type=float)
    parser.add_argument("--workspace-posts", type=int)
    parser.add_argument("--workspace-window", type=float, default=60.0)
    args = parser.parse_args()
    with FakeSlack() as fake:
        fake.channel_rate_limit = args.channel_interval
        fake.workspace_rate_limit = args.workspace_posts
        fake.workspace_window = args.workspace_window
        print(fake.base_url, flush=True)
        sys.stdin.read()
        refused = [c for c in fake.calls_to("chat.postMessage") if (c.response or {}).get("error") == "ratelimited"]
        print(len(refused), flush=True)  # how many posts Slack refused with a 429
