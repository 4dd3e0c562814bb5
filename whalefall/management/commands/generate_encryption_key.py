from typing import Any

from django.core.management.base import BaseCommand

from whalefall.crypto import generate_key


class Command(BaseCommand):
    help = "Print a new Fernet key for WHALEFALL_ENCRYPTION_KEY."

    def handle(self, *args: Any, **opts: Any) -> None:
        self.stdout.write(generate_key())
