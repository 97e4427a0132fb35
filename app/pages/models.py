from django.db import models


class Visit(models.Model):
    """One request to the home page: which release and which host served it.

    Gives a deploy a real migration to run, and shows that several hosts share one database.
    """

    served_at = models.DateTimeField(auto_now_add=True)
    release = models.CharField(max_length=64)
    host = models.CharField(max_length=255)

    class Meta:
        ordering = ["-served_at", "-id"]

    def __str__(self):
        return f"{self.served_at:%Y-%m-%d %H:%M:%S} {self.host} ({self.release})"
