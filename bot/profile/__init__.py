"""The team profile: what the team knows once (company, sponsor, implementation team, references, links,
sticking points), seeded from a TOML file and edited by managers on the App Home tab."""
