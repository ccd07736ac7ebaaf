"""The shared Slack base every feature builds on: one posting client and protocol, Block Kit, safe text."""
