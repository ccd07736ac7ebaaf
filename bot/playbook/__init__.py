"""The playbook: which follow-ups a deal gets and when, loaded from TOML and checked line by line."""
