"""Uploads in an S3-compatible object store (the role's django_dockerable_media_storage: s3): Django's
default storage, shared by every host of an environment, through django-storages.

The release's settings (the role's settings.py) name ``dockerable.storage.MediaStorage`` in
``STORAGES["default"]`` with the store's options. Two things are added to django-storages' S3Storage:

- ``through_site``: the uploads' URLs are the site's own ``MEDIA_URL`` + name (``/media/...``),
  which each host's nginx proxies to the store (NGINX_MEDIA_PROXY): one origin for the browser.
  Otherwise they are the store's (signed when ``querystring_auth``).
- ``check()``: whether the store answers with the release's keys, as ``/healthz`` reports it
  (``"media"``), so that a release with a wrong endpoint, bucket or key never gets a request.
  It reads, and writes once if missing, the probe object that playbooks/status.yml fetches through
  the site.
"""

import threading
import time
from urllib.parse import urljoin

from django.conf import settings
from django.utils.encoding import filepath_to_uri
from storages.backends.s3 import S3Storage

PROBE = ".dockerable-media-probe"
PROBE_CONTENT = b"django-dockerable media probe\n"
# A check's answer is reused for this long: /healthz is asked every few seconds by Docker's
# HEALTHCHECK and by deploys, and the store need not be asked as often.
CHECK_TTL = 5.0


class MediaStorage(S3Storage):
    def get_default_settings(self):
        return {**super().get_default_settings(), "through_site": False}

    def url(self, name, parameters=None, expire=None, http_method=None):
        if not self.through_site:
            return super().url(name, parameters=parameters, expire=expire, http_method=http_method)
        return urljoin(settings.MEDIA_URL, filepath_to_uri(name).lstrip("/"))

    _checked = (0.0, None)
    _check_lock = threading.Lock()

    def check(self):
        """None when the store answers (the probe object is there, or was just written), else the
        reason, in one line. Short timeouts, one attempt: a health check must answer quickly."""
        with self._check_lock:
            at, problem = self._checked
            if time.monotonic() - at < CHECK_TTL:
                return problem
            problem = self._ask_store()
            self._checked = (time.monotonic(), problem)
            return problem

    def _ask_store(self):
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        client = getattr(self, "_check_client", None)
        if client is None:
            client = boto3.session.Session().client(
                "s3",
                endpoint_url=self.endpoint_url,
                region_name=self.region_name,
                aws_access_key_id=self.access_key,
                aws_secret_access_key=self.secret_key,
                aws_session_token=self.security_token,
                verify=self.verify,
                config=Config(
                    connect_timeout=2,
                    read_timeout=3,
                    retries={"total_max_attempts": 1},
                    signature_version=self.signature_version,
                    s3={"addressing_style": self.addressing_style} if self.addressing_style else None,
                ),
            )
            self._check_client = client
        key = self._normalize_name(PROBE)
        where = f"bucket {self.bucket_name!r} at {self.endpoint_url or 'Amazon S3'}"
        try:
            try:
                client.head_object(Bucket=self.bucket_name, Key=key)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                    raise
                client.put_object(Bucket=self.bucket_name, Key=key, Body=PROBE_CONTENT, ContentType="text/plain")
        except ClientError as error:
            details = error.response.get("Error", {})
            return f"{where}: {details.get('Code', '?')} {details.get('Message', '')}".strip()
        except (BotoCoreError, OSError) as error:
            return f"{where}: {error}"
        return None
