from django.urls import path

from scheduling import api

urlpatterns = [
    path("api/scheduler/status/", api.status, name="scheduler-status"),
    path("api/scheduler/reload/", api.reload, name="scheduler-reload"),
    path("api/scheduler/jobs/", api.jobs, name="scheduler-jobs"),
    path("api/scheduler/jobs/<str:job_id>/", api.job_detail, name="scheduler-job"),
    path("api/scheduler/jobs/<str:job_id>/<str:action>/", api.job_action, name="scheduler-job-action"),
]
