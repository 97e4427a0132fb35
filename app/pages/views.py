import socket

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .models import Visit


@require_GET
@never_cache
def home(request):
    """Record the visit, then show which release and which host answered, to which client address
    (REMOTE_ADDR, as nginx passes it), and the latest visits."""
    host = socket.gethostname()
    Visit.objects.create(release=settings.RELEASE_ID, host=host)
    context = {
        "release": settings.RELEASE_ID,
        "host": host,
        "client": request.META.get("REMOTE_ADDR", ""),
        "visit_count": Visit.objects.count(),
        "recent_visits": Visit.objects.all()[:10],
    }
    return render(request, "pages/home.html", context)


@require_GET
@never_cache
def healthz(request):
    """200 when the app can reach its database, 503 when it cannot; JSON either way."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        database = True
    except DatabaseError:
        database = False
    body = {
        "status": "ok" if database else "unavailable",
        "release": settings.RELEASE_ID,
        "host": socket.gethostname(),
        "database": database,
    }
    return JsonResponse(body, status=200 if database else 503)


@require_GET
@never_cache
def ping(request):
    """A few bytes that touch neither the database nor a template: whether the app answers at all,
    and the request the serving benchmark measures (bench/serving.py) without a database in the way."""
    return HttpResponse(f"pong {settings.RELEASE_ID}\n", content_type="text/plain; charset=utf-8")
