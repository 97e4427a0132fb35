import socket

from django.conf import settings
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
