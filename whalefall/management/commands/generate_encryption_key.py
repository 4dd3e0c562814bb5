from typing import Any

from whalefall.crypto import generate_key
from whalefall.management.base import SafeOutputCommand


class Command(SafeOutputCommand):
    help = "Print a new Fernet key for WHALEFALL_ENCRYPTION_KEY."

    def handle(self, *args: Any, **opts: Any) -> None:
        self.stdout.write(generate_key())
