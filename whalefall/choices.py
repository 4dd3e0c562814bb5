"""Choice classes shared across apps (NetBox style: grouped constants)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class DbType(models.TextChoices):
    MYSQL = "mysql", "MySQL / MariaDB"
    POSTGRESQL = "postgresql", "PostgreSQL"
    SQLSERVER = "sqlserver", "SQL Server"
    ORACLE = "oracle", "Oracle"


DEFAULT_PORTS = {
    DbType.MYSQL: 3306,
    DbType.POSTGRESQL: 5432,
    DbType.SQLSERVER: 1433,
    DbType.ORACLE: 1521,
}


class SyncCategory(models.TextChoices):
    ACCOUNT = "account", _("Account sync")
    CAPACITY = "capacity", _("Capacity collection")
    AGGREGATION = "aggregation", _("Capacity aggregation")


class SyncTrigger(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    MANUAL = "manual", _("Manual")
    MANUAL_SINGLE = "manual_single", _("Manual (single instance)")


class SessionStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    COMPLETED = "completed", _("Completed")
    PARTIAL = "partial", _("Partial")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    SKIPPED = "skipped", _("Skipped (another run held the lock)")
    INTERRUPTED = "interrupted", _("Interrupted (its process died)")


class RecordStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")
    CANCELLED = "cancelled", _("Cancelled")
    INTERRUPTED = "interrupted", _("Interrupted")


class SyncPhase(models.TextChoices):
    CONNECTION = "connection", _("Connection")
    INVENTORY = "inventory", _("Inventory")
    COLLECTION = "collection", _("Collection")
