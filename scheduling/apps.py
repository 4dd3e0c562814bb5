from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SchedulingConfig(AppConfig):
    """runscheduler, the stored jobs and their defaults, the jobs/executions admin."""

    name = "scheduling"
    verbose_name = _("Scheduling")

    def ready(self) -> None:
        from scheduling.panels import register_panels

        register_panels()
        from scheduling.alerts import register_kinds as register_alert_kinds

        register_alert_kinds()
        from scheduling.retention import register_cleaners

        register_cleaners()
        from scheduling.status import scheduler_status
        from whalefall import extensions

        extensions.add_api_urls("scheduling.api_urls")
        extensions.set_executor_status(scheduler_status)
