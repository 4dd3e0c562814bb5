"""Which session a job execution produced (django-apscheduler's execution rows cannot hold it)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class JobRunSession(models.Model):
    """Keyed like DjangoJobExecution (job id + scheduled run time), so the history can link it."""

    job_id = models.CharField(_("job ID"), max_length=255)
    run_time = models.DateTimeField(_("run time"))
    session = models.ForeignKey(
        "whalefall.SyncSession",
        null=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("session"),
    )
    result = models.JSONField(_("result"), default=dict, blank=True)

    class Meta:
        verbose_name = _("job run session")
        verbose_name_plural = _("job run sessions")
        constraints = [models.UniqueConstraint(fields=["job_id", "run_time"], name="unique_job_run_session")]

    def __str__(self) -> str:
        return f"{self.job_id} at {self.run_time}"
