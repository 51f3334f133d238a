"""Shared Record routes (api.md §5) and the verify page. `api_urlpatterns` are mounted under /api/v1/
(before the JSON catch-all), `page_urlpatterns` at the top level. No trailing slashes anywhere; each
list ends with a catch-all so an unknown sub-route answers exactly like an unknown handle."""

from django.urls import path, re_path

from records.public import pages, shared_api

HANDLE = "c/<str:handle>"

api_urlpatterns = [
    path(HANDLE, shared_api.SummaryView.as_view(), name="shared-record-summary"),
    path(f"{HANDLE}/access/verify", shared_api.StepUpView.as_view(), name="shared-record-access-verify"),
    path(f"{HANDLE}/activity", shared_api.ActivityView.as_view(), name="shared-record-activity"),
    path(f"{HANDLE}/periods", shared_api.PeriodsView.as_view(), name="shared-record-periods"),
    path(f"{HANDLE}/periods/<str:checkpointId>", shared_api.PeriodView.as_view(), name="shared-record-period"),
    path(f"{HANDLE}/period/<str:checkpointId>", shared_api.PeriodAliasView.as_view()),
    path(f"{HANDLE}/compare", shared_api.CompareView.as_view(), name="shared-record-compare"),
    path(f"{HANDLE}/export", shared_api.ExportView.as_view(), name="shared-record-export"),
    path(f"{HANDLE}/exports/<str:exportId>", shared_api.ExportJobView.as_view(), name="shared-record-export-job"),
    path(f"{HANDLE}/exports/<str:exportId>/download", shared_api.ExportDownloadView.as_view(),
         name="shared-record-export-download"),
    re_path(r"^c/", shared_api.shared_api_not_found),
]

page_urlpatterns = [
    path(HANDLE, pages.LandingPage.as_view(), name="shared-record-page"),
    path(f"{HANDLE}/access", pages.AccessPage.as_view(), name="shared-record-page-access"),
    path(f"{HANDLE}/activity", pages.ActivityPage.as_view(), name="shared-record-page-activity"),
    path(f"{HANDLE}/periods", pages.PeriodsPage.as_view(), name="shared-record-page-periods"),
    path(f"{HANDLE}/periods/<str:checkpointId>", pages.PeriodPage.as_view(), name="shared-record-page-period"),
    path(f"{HANDLE}/compare", pages.ComparePage.as_view(), name="shared-record-page-compare"),
    re_path(r"^c/", pages.not_found_page),
    path("verify/<str:proofRoot>", pages.verify_page, name="verify-page"),
]
