"""Choice classes shared across apps (NetBox style: grouped constants)."""

from django.db import models


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
    ACCOUNT = "account", "Account sync"
    CAPACITY = "capacity", "Capacity collection"
    AGGREGATION = "aggregation", "Capacity aggregation"


class SyncTrigger(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    MANUAL = "manual", "Manual"
    MANUAL_SINGLE = "manual_single", "Manual (single instance)"


class SessionStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    PARTIAL = "partial", "Partial"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    SKIPPED = "skipped", "Skipped (another run held the lock)"
    INTERRUPTED = "interrupted", "Interrupted (its process died)"

    @classmethod
    def finished(cls) -> list[str]:
        return [cls.COMPLETED, cls.PARTIAL, cls.FAILED, cls.CANCELLED, cls.SKIPPED, cls.INTERRUPTED]


class RecordStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled"
    INTERRUPTED = "interrupted", "Interrupted"


class SyncPhase(models.TextChoices):
    CONNECTION = "connection", "Connection"
    INVENTORY = "inventory", "Inventory"
    COLLECTION = "collection", "Collection"
