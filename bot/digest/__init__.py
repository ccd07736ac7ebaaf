"""The managers' daily digest: what it says, its ledger, and its exactly-once delivery."""
