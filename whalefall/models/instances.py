"""Database instances and their credentials (passwords encrypted at rest)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from whalefall import crypto
from whalefall.choices import DEFAULT_PORTS, DbType
from whalefall.structured_logging import register_secret

if TYPE_CHECKING:
    from whalefall.connections.base import ConnectionParams


class TlsMode(models.TextChoices):
    """How the connection is encrypted (SQL Server: TDS encryption; Oracle: require = TCPS)."""

    DEFAULT = "", _("Driver default")
    OFF = "off", _("Off")
    REQUEST = "request", _("Request (SQL Server)")
    REQUIRE = "require", _("Require (SQL Server; Oracle TCPS)")


class Credential(models.Model):
    """A login for monitoring; the password is stored only encrypted and is never shown."""

    name = models.CharField(_("name"), max_length=128, unique=True)
    username = models.CharField(_("username"), max_length=128)
    password_encrypted = models.TextField(_("encrypted password"), editable=False, blank=True, default="")
    # Oracle TCPS: the password of an encrypted wallet (ewallet.pem), encrypted like the password.
    wallet_password_encrypted = models.TextField(
        _("encrypted wallet password"), editable=False, blank=True, default=""
    )
    description = models.TextField(_("description"), blank=True, default="")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("credential")
        verbose_name_plural = _("credentials")

    def __str__(self) -> str:
        return f"{self.name} ({self.username})"

    def __repr__(self) -> str:
        return f"<Credential {self.name!r} user={self.username!r}>"

    def set_password(self, raw: str) -> None:
        self.password_encrypted = crypto.encrypt(raw)

    def get_password(self) -> str:
        """Decrypt the password; raises CredentialDecryptionError rather than returning ''."""
        if not self.password_encrypted:
            return ""
        raw = crypto.decrypt(self.password_encrypted)
        register_secret(raw)
        return raw

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    def set_wallet_password(self, raw: str) -> None:
        self.wallet_password_encrypted = crypto.encrypt(raw) if raw else ""

    def get_wallet_password(self) -> str:
        if not self.wallet_password_encrypted:
            return ""
        raw = crypto.decrypt(self.wallet_password_encrypted)
        register_secret(raw)
        return raw


class TagColour(models.TextChoices):
    """A small palette rather than free CSS: each colour is a class with readable contrast."""

    GREY = "", _("Grey")
    BLUE = "blue", _("Blue")
    GREEN = "green", _("Green")
    ORANGE = "orange", _("Orange")
    RED = "red", _("Red")
    PURPLE = "purple", _("Purple")


class Tag(models.Model):
    """A label a team puts on instances (environment, owner, tier) to filter the fleet by."""

    name = models.CharField(_("name"), max_length=64, unique=True)
    colour = models.CharField(_("colour"), max_length=8, choices=TagColour.choices, blank=True, default="")

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return self.name


class InstanceQuerySet(models.QuerySet["Instance"]):
    def active(self) -> InstanceQuerySet:
        return self.filter(is_active=True)

    def for_sync(self, instance_ids: list[int] | None = None) -> list[Instance]:
        """The instances a run covers: those named explicitly, else every active one."""
        qs = self.filter(pk__in=instance_ids) if instance_ids else self.active()
        return list(qs.select_related("credential").order_by("name"))


class Instance(models.Model):
    """A database server WhaleFall watches."""

    name = models.CharField(_("name"), max_length=128, unique=True)
    db_type = models.CharField(_("database type"), max_length=16, choices=DbType.choices)
    host = models.CharField(_("host"), max_length=255)
    port = models.PositiveIntegerField(
        _("port"), blank=True, null=True, help_text=_("Engine default if empty.")
    )
    database = models.CharField(
        _("database"),
        max_length=128,
        blank=True,
        default="",
        help_text=_("Oracle service name (or SID); initial database for SQL Server and PostgreSQL."),
    )
    tls = models.CharField(
        _("encryption"),
        max_length=8,
        choices=TlsMode.choices,
        blank=True,
        default="",
        help_text=_("SQL Server: TDS encryption off / request / require. Oracle: require = TCPS."),
    )
    trust_server_certificate = models.BooleanField(
        _("trust server certificate"),
        default=False,
        help_text=_("Encrypt without verifying the server's certificate (SQL Server, Oracle TCPS)."),
    )
    oracle_sid = models.BooleanField(
        _("Oracle SID"),
        default=False,
        help_text=_("Oracle: the database field is a SID, not a service name."),
    )
    wallet_location = models.CharField(
        _("wallet location"),
        max_length=500,
        blank=True,
        default="",
        help_text=_("Oracle TCPS: directory holding ewallet.pem."),
    )
    credential = models.ForeignKey(
        Credential,
        on_delete=models.PROTECT,
        related_name="instances",
        null=True,
        blank=True,
        verbose_name=_("credential"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    description = models.TextField(_("description"), blank=True, default="")
    tags = models.ManyToManyField(Tag, blank=True, related_name="instances", verbose_name=_("tags"))
    version = models.CharField(_("version"), max_length=255, blank=True, default="", editable=False)
    last_check_at = models.DateTimeField(_("last check at"), null=True, blank=True, editable=False)
    last_check_ok = models.BooleanField(_("last check OK"), null=True, editable=False)
    last_check_message = models.CharField(
        _("last check message"), max_length=500, blank=True, default="", editable=False
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = InstanceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("instance")
        verbose_name_plural = _("instances")
        indexes = [models.Index(fields=["db_type", "is_active"])]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Connection options the engine cannot honour are refused when the instance is saved."""
        from django.core.exceptions import ValidationError

        if self.db_type == DbType.ORACLE and self.tls == TlsMode.REQUEST:
            raise ValidationError({"tls": _("Oracle connects over TCP (off) or TCPS (require).")})
        if self.db_type != DbType.ORACLE and (self.oracle_sid or self.wallet_location):
            raise ValidationError(_("The SID and wallet options apply to Oracle only."))
        if self.db_type == DbType.ORACLE and not self.database:
            raise ValidationError({"database": _("Oracle needs a service name (or a SID).")})

    @property
    def effective_port(self) -> int:
        return self.port or DEFAULT_PORTS[DbType(self.db_type)]

    def connection_params(self) -> ConnectionParams:
        """Everything a connector needs, with the password decrypted just in time."""
        from whalefall.connections.base import ConnectionParams

        cred = self.credential
        return ConnectionParams.from_settings(
            host=self.host,
            port=self.effective_port,
            user=cred.username if cred else "",
            password=cred.get_password() if cred else "",
            database=self.database,
            tls=self.tls,
            trust_server_certificate=self.trust_server_certificate,
            oracle_sid=self.oracle_sid,
            wallet_location=self.wallet_location,
            wallet_password=cred.get_wallet_password() if cred else "",
        )

    def record_check(self, ok: bool, message: str, version: str = "") -> None:
        """Store the result of a connection check, touching only those columns."""
        self.last_check_at = timezone.now()
        self.last_check_ok = ok
        self.last_check_message = message[:500]
        fields = ["last_check_at", "last_check_ok", "last_check_message"]
        if version:
            self.version = version[:255]
            fields.append("version")
        self.save(update_fields=fields)

    def record_version(self, version: str) -> None:
        if version and version != self.version:
            self.version = version[:255]
            Instance.objects.filter(pk=self.pk).update(version=self.version)
