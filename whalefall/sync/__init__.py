"""The sync machinery shared by account sync and capacity: ledger, locks, retries, runner."""
