"""WhaleFall: inventory, account and capacity sync for a fleet of database servers."""
