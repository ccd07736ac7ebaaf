"""The Home tab: what each rep, or manager, sees when opening Deal Coach."""
