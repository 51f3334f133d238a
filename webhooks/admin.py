from django.contrib import admin

from records.admin import ReadOnlyAdmin
from webhooks.models import Event


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("id", "type", "tenant", "environment", "created_at")
    list_filter = ("type", "environment")
    search_fields = ("id", "tenant__id")
