from typing import Any

from django.utils.translation import gettext_lazy as _

from whalefall.crypto import generate_key
from whalefall.management.base import SafeOutputCommand


class Command(SafeOutputCommand):
    help = _("Print a new Fernet key for WHALEFALL_ENCRYPTION_KEY.")

    def handle(self, *args: Any, **opts: Any) -> None:
        self.stdout.write(generate_key())
