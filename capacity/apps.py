from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CapacityConfig(AppConfig):
    """Database inventory, daily sizes, period aggregations and growth forecasts."""

    name = "capacity"
    verbose_name = _("Capacity")

    def ready(self) -> None:
        from capacity.panels import register_panels as register_capacity_panels

        register_capacity_panels()
        from django.utils.translation import gettext_lazy

        from whalefall import extensions

        extensions.add_instance_link(
            extensions.InstanceLink(
                "admin:capacity_instancedatabase_changelist",
                "instance__id__exact",
                gettext_lazy("Capacity"),
                "capacity.view_instancedatabase",
            )
        )
        from capacity.alerts import register_kinds

        register_kinds()
        from capacity.tasks import TASKS
        from whalefall import task_registry

        task_registry.register(*TASKS)
