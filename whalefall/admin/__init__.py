"""Admin registrations of the core (instances, credentials, sync sessions)."""

from whalefall.admin import instances, sessions  # noqa: F401
