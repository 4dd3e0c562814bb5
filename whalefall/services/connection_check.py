"""Test a connection the way the admin action and `check_instances` report it."""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from whalefall.connections import ConnectorError, connector_class
from whalefall.connections.base import ErrorKind
from whalefall.crypto import CredentialDecryptionError
from whalefall.models import Instance
from whalefall.structured_logging import get_logger, scrub

logger = get_logger(__name__)

# The kind of a failed check as the message starts with it (`kind` itself stays the stable value).
KIND_WORDS = {
    ErrorKind.UNREACHABLE: pgettext_lazy("connection error", "unreachable"),
    ErrorKind.TIMEOUT: pgettext_lazy("connection error", "timeout"),
    ErrorKind.AUTHENTICATION: pgettext_lazy("connection error", "authentication"),
    ErrorKind.PRIVILEGE: pgettext_lazy("connection error", "privilege"),
    ErrorKind.UNSUPPORTED: pgettext_lazy("connection error", "unsupported"),
    ErrorKind.OTHER: pgettext_lazy("connection error", "other"),
}


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    message: str
    version: str = ""
    latency_ms: float = 0.0
    kind: str = ""

    def __str__(self) -> str:
        return self.message


def try_connection(instance: Instance) -> CheckResult:
    """Connect with the instance's settings as they are in memory (possibly unsaved) and say how
    it went; records nothing and never raises, so a form can try settings before they are kept.
    Every decrypted password is scrubbed from the message, whatever a driver put in its error."""
    result = _connect(instance)
    return replace(result, message=scrub(result.message))


def _connect(instance: Instance) -> CheckResult:
    try:
        with connector_class(instance.db_type)(instance.connection_params()) as conn:
            info, latency = conn.ping()
        return CheckResult(
            True,
            _("OK: %(server)s (%(version)s) in %(latency).0f ms")
            % {"server": info.display, "version": info.version_string, "latency": latency},
            info.description,
            latency,
        )
    except ConnectorError as exc:
        return CheckResult(
            False,
            _("%(kind)s: %(message)s")
            % {"kind": KIND_WORDS.get(exc.kind, exc.kind.value), "message": exc.message},
            kind=exc.kind.value,
        )
    except (CredentialDecryptionError, ImproperlyConfigured) as exc:
        return CheckResult(False, _("configuration: %(error)s") % {"error": exc}, kind="configuration")
    except Exception as exc:  # noqa: BLE001 - the check reports, it does not crash
        return CheckResult(
            False,
            _("%(kind)s: %(message)s")
            % {"kind": KIND_WORDS[ErrorKind.OTHER], "message": f"{exc.__class__.__name__}: {exc}"},
            kind="other",
        )


def check_instance(instance: Instance) -> CheckResult:
    """Connect, detect the version, record the outcome on the instance; never raises."""
    result = try_connection(instance)
    instance.record_check(result.ok, result.message, result.version)
    logger.info(
        "instance_connection_checked",
        instance_id=instance.pk,
        instance=instance.name,
        ok=result.ok,
        kind=result.kind,
        latency_ms=round(result.latency_ms, 1),
    )
    return result
