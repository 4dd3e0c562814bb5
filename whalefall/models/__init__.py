from whalefall.models.alerts import AlertChannel, AlertDelivery, AlertRule, DeliveryStatus
from whalefall.models.instances import Credential, Instance, InstanceQuerySet, Tag, TagColour
from whalefall.models.locks import SyncLock
from whalefall.models.sessions import SyncInstanceRecord, SyncSession

__all__ = [
    "AlertChannel",
    "AlertDelivery",
    "AlertRule",
    "Credential",
    "DeliveryStatus",
    "Instance",
    "InstanceQuerySet",
    "SyncInstanceRecord",
    "SyncLock",
    "SyncSession",
    "Tag",
    "TagColour",
]

from whalefall.models.requests import TaskRequest, TaskRequestStatus

__all__ += ["TaskRequest", "TaskRequestStatus"]
