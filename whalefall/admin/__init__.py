"""Admin registrations of the core (instances, credentials, sync sessions)."""

from whalefall.admin import alerts, instances, sessions  # noqa: F401
