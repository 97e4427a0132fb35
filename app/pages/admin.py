from django.contrib import admin

from .models import Visit


@admin.register(Visit)
class VisitAdmin(admin.ModelAdmin):
    list_display = ["served_at", "host", "release"]
    list_filter = ["host", "release"]
