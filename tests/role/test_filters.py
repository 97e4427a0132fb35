"""The role's filters (filter_plugins/django_dockerable.py) on their own: the rollout's batches, the
scheduled commands' checks, the certificates that renewals issue per 7 days, and the status report's
judgement of a host."""

from fractions import Fraction

import pytest

from django_dockerable import django_dockerable_acme_weekly as acme_weekly
from django_dockerable import django_dockerable_batches as batches
from django_dockerable import django_dockerable_command_errors as command_errors
from django_dockerable import django_dockerable_scheduled_errors as scheduled_errors
from django_dockerable import django_dockerable_split as split
from django_dockerable import django_dockerable_status as status
from django_dockerable import django_dockerable_status_problems as status_problems
from django_dockerable import django_dockerable_status_table as status_table

DAY = 86400
PROBE = "django-dockerable media probe\n"


def test_batches_are_made_as_ansibles_serial_makes_them():
    """django_dockerable_serial is read like any other variable (switch-hosts.yml makes the batches in
    the play): a number of hosts, or a percentage of them rounded down but at least one."""
    hosts = ["a", "b", "c", "d", "e"]
    assert batches(hosts, 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert batches(hosts, "2") == [["a", "b"], ["c", "d"], ["e"]]
    assert batches(hosts, 1) == [[host] for host in hosts]
    assert batches(hosts, "40%") == [["a", "b"], ["c", "d"], ["e"]]
    assert batches(hosts, "10%") == [[host] for host in hosts]
    assert batches(hosts, "100%") == [hosts]
    assert batches(hosts, 9) == [hosts]
    assert batches(["a"], "50%") == [["a"]]


def test_commands_split_as_a_shell_would_without_expanding_anything():
    assert split("createsuperuser --noinput --username 'the admin'") == [
        "createsuperuser", "--noinput", "--username", "the admin",
    ]  # fmt: skip
    assert split("shell -c 'print($HOME)'") == ["shell", "-c", "print($HOME)"]
    assert command_errors("migrate --plan", "django_dockerable_manage") == []
    assert command_errors("shell -c 'x", "django_dockerable_manage") == [
        'django_dockerable_manage is "shell -c \'x": it cannot be split into arguments (No closing quotation).'
    ]
    assert "must be manage.py's arguments as text" in command_errors("  ", "django_dockerable_manage")[0]


def test_scheduled_commands_are_checked_entry_by_entry():
    good = {"name": "clearsessions", "schedule": "23 4 * * *", "command": "clearsessions"}
    assert scheduled_errors([good, {**good, "name": "weekly-report", "schedule": "@weekly"}]) == []
    assert scheduled_errors([{**good, "schedule": "*/15 8-18 * * mon-fri"}]) == []
    errors = scheduled_errors(
        [
            good,
            {**good, "name": "clearsessions"},
            {**good, "name": "Bad Name"},
            {**good, "name": "x", "schedule": "daily"},
            {**good, "name": "y", "schedule": "1 2 3 4"},
            {**good, "name": "z", "command": "a 'b"},
        ]
    )
    assert errors == [
        "django_dockerable_scheduled_commands[1].name is 'clearsessions', the name of an earlier entry: each needs a"
        " name of its own.",
        "django_dockerable_scheduled_commands[2].name is 'Bad Name': it must be lowercase letters, digits, '-' and"
        " '_'.",
        "django_dockerable_scheduled_commands[3].schedule is 'daily': it must be cron's five fields (minute hour day"
        " month weekday, e.g. '23 4 * * *') or one of @hourly, @daily, @weekly, @monthly, @yearly.",
        "django_dockerable_scheduled_commands[4].schedule is '1 2 3 4': it must be cron's five fields (minute hour day"
        " month weekday, e.g. '23 4 * * *') or one of @hourly, @daily, @weekly, @monthly, @yearly.",
        'django_dockerable_scheduled_commands[5].command is "a \'b": it cannot be split into arguments (No closing'
        " quotation).",
    ]


def found(**changes):
    """What tasks/status.yml reads of a healthy letsencrypt host serving release r2 (r1 before it)."""
    base = {
        "files": {"current": "r2", "previous": "r1", "lock": "", "renewal": "", "maintenance": ""},
        "releases": [
            {"release": "r2", "created": "2026-12-01T10:00:00Z"},
            {"release": "r1", "created": "2026-11-01T10:00:00Z"},
        ],
        "container": {"State": {"Status": "running", "Running": True, "Health": {"Status": "healthy"}}},
        "health": {"status": 200, "json": {"release": "r2"}, "msg": "OK"},
        "media": {
            "status": 200,
            "content": PROBE,
            "msg": "OK (30 bytes)",
            "path": "/media/.dockerable-media-probe",
            "expected": PROBE,
            "directory": "/srv/django-dockerable/site-staging/media",
        },
        "certificate": certificate(60 * DAY, 90 * DAY),
        "audit": ["2026-12-01T10:00:00Z env=staging host=web1 by=ops deploy release=r2 previous=r1 result=ok"],
    }
    for key, value in changes.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) and key != "container" else value
    return base


def certificate(seconds_left, lifetime):
    return (
        "certificate=letsencrypt\nnames=www.example.com,example.com\nissuer=CN=R11,O=Let's Encrypt,C=US\n"
        "not_before=2026-11-01T00:00:00Z\nexpires=2027-01-30T00:00:00Z\n"
        f"days_left={seconds_left // DAY}\nseconds_left={seconds_left}\nlifetime_seconds={lifetime}\nserved=yes\n"
    )


def judge(**changes):
    return status(found(**changes), "web1", "letsencrypt", 14, "site-staging")


def test_a_healthy_host_has_no_problem_and_every_cell():
    result = judge()
    assert result["problems"] == []
    assert result["serving"] == "r2" and result["serving_since"] == "2026-12-01T10:00:00Z"
    assert result["previous"] == "r1" and result["previous_since"] == "2026-11-01T10:00:00Z"
    assert result["container"] == "running, healthy"
    assert result["healthz"] == "200"
    assert result["media"] == "ok"
    assert result["certificate"] == "60 days left"
    assert result["names"] == "www.example.com,example.com"
    assert result["renewal"] == "never run"
    assert result["lock"] == "free"
    assert result["maintenance"] == "off"
    assert result["shell"] == "docker exec -it --user django site-staging-r2 python manage.py shell"


def test_each_problem_is_named():
    assert judge(files={"current": ""}, container=None)["problems"][0] == "no release serves here"
    assert judge(container=None, docker="Cannot connect to the Docker daemon")["problems"][0] == (
        "Docker does not answer: Cannot connect to the Docker daemon"
    )
    assert judge(container=None)["problems"][0] == "the serving release's container site-staging-r2 does not exist"
    stopped = {"State": {"Status": "exited", "Running": False, "Health": {"Status": "unhealthy"}}}
    assert judge(container=stopped)["problems"] == ["the serving release's container is exited"]
    unhealthy = {"State": {"Status": "running", "Running": True, "Health": {"Status": "unhealthy"}}}
    assert "unhealthy" in judge(container=unhealthy)["problems"][0]
    assert judge(health={"status": -1, "json": {}, "msg": "Connection refused"})["problems"] == [
        "/healthz does not answer: Connection refused"
    ]
    assert judge(health={"status": 200, "json": {"release": "r1"}})["problems"] == [
        "/healthz answers 200 from release r1, not 200 from r2"
    ]
    assert judge(certificate="certificate=none\nserved=no\n")["problems"] == [
        "no Let's Encrypt certificate (nginx serves a temporary self-signed one)"
    ]
    assert judge(certificate=certificate(60 * DAY, 90 * DAY).replace("served=yes", "served=no"))["problems"] == [
        "nginx does not serve the certificate on disk"
    ]
    failed = "time=2026-12-01T04:00:00Z\nresult=failed\nrenewed=no\nmessage=Connection refused\n"
    assert judge(files={"renewal": failed})["problems"] == [
        "the last renewal failed (2026-12-01T04:00:00Z): Connection refused"
    ]
    assert judge(files={"renewal": "time=2026-12-01T04:00:00Z\nresult=ok\n"})["renewal"] == "ok 2026-12-01T04:00:00Z"


def test_the_expiry_threshold_is_the_warning_days_or_a_quarter_of_a_short_lifetime():
    # 90-day certificate: warned within 14 days.
    assert judge(certificate=certificate(15 * DAY, 90 * DAY))["problems"] == []
    assert "expires on" in judge(certificate=certificate(13 * DAY, 90 * DAY))["problems"][0]
    # 6-day certificate (Let's Encrypt's shortlived): a quarter of its lifetime, 36 hours, not 14 days.
    assert judge(certificate=certificate(3 * DAY, 6 * DAY))["problems"] == []
    assert "less than 36 hours" in judge(certificate=certificate(DAY, 6 * DAY))["problems"][0]


def test_the_table_has_a_row_per_host_and_counts_the_problems():
    healthy = judge()
    sick = status(found(health={"status": 503, "json": {"release": "r2"}}), "web2", "letsencrypt", 14, "site-staging")
    text = status_table([healthy, sick], "staging", ["web3"])
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("HOST"))
    assert header.split() == ["HOST", "SERVING", "SINCE", "PREVIOUS", "SINCE", "CONTAINER", "HEALTHZ", "MEDIA",
                              "MAINTENANCE", "CERTIFICATE", "RENEWAL"]  # fmt: skip
    assert any(line.startswith("web1 ") and " 200 " in line and " ok " in line for line in lines)
    assert any(line.startswith("web2 ") and " 503 (r2) " in line for line in lines)
    assert any(line.startswith("web3 ") and "unreachable" in line for line in lines)
    assert "  PROBLEM: /healthz answers 503 from release r2, not 200 from r2" in lines
    assert "    " + healthy["audit"][0] in lines
    assert lines[-1] == "2 problem(s)."
    assert status_problems([healthy, sick], ["web3"]) == [
        "web2: /healthz answers 503 from release r2, not 200 from r2",
        "web3: the host did not answer",
    ]


def test_uploads_are_judged_by_the_probe_that_a_deploy_writes():
    forbidden = judge(media={"status": 403, "content": "<html>403 Forbidden</html>", "msg": "HTTP Error 403"})
    assert forbidden["media"] == "403"
    assert forbidden["problems"] == [
        "uploads are not served: /media/.dockerable-media-probe answered 403 (nginx's workers must be able to read"
        " /srv/django-dockerable/site-staging/media: mode 0755, the files in it 0644)"
    ]
    assert status_problems([forbidden])[0].startswith("web1: uploads are not served: /media/.dockerable-media-probe")
    missing = judge(media={"status": 404, "content": ""})
    assert missing["media"] == "404"
    assert "the probe is not in /srv/django-dockerable/site-staging/media" in missing["problems"][0]
    other = judge(media={"content": "<!doctype html>Page not found"})
    assert other["media"] == "200 (other content)"
    assert other["problems"] == [
        "uploads are not served: /media/.dockerable-media-probe answered 200 (not the probe that a deploy writes to"
        " /srv/django-dockerable/site-staging/media: nginx serves /media/ from elsewhere)"
    ]
    assert judge(media={"status": 502})["problems"][0].endswith(
        "answered 502 (nginx's error log in the serving release's container says why)"
    )


def test_uploads_unanswered_are_a_problem_of_their_own_only_when_healthz_answers():
    refused = {"status": -1, "content": "", "msg": "Connection refused"}
    assert judge(media=refused)["problems"] == [
        "uploads are not served: /media/.dockerable-media-probe does not answer: Connection refused"
    ]
    # The same cause as /healthz's: one problem, not two.
    both = judge(health={"status": -1, "json": {}, "msg": "Connection refused"}, media=refused)
    assert both["media"] == "no answer"
    assert both["problems"] == ["/healthz does not answer: Connection refused"]


def test_uploads_closed_by_maintenance_are_no_problem():
    closed = judge(files={"maintenance": "on by ops"}, media={"status": 503, "content": "<html>maintenance</html>"})
    assert closed["media"] == "503 (maintenance)"
    assert closed["problems"] == []
    # Outside maintenance, the same 503 is one.
    assert judge(media={"status": 503})["problems"] != []


def test_uploads_are_not_asked_where_no_release_serves():
    # tasks/status.yml skips the probe there: the defaults it passes then.
    idle = judge(
        files={"current": "", "previous": ""},
        container=None,
        health={"status": -1, "json": {}, "msg": "Connection refused"},
        media={"status": -1, "content": "", "msg": ""},
    )
    assert idle["media"] == "-"
    assert idle["problems"] == ["no release serves here", "/healthz does not answer: Connection refused"]


# (profile, date, lifetime in hours, renewal interval in hours, certificates per host per 7 days as
# shown, most hosts within the renewals' rate).
PROFILE_FIGURES = [
    ("classic", "2026-12-07", 2160, 1440, 0.12, 42),
    ("", "2026-12-07", 2160, 1440, 0.12, 42),  # empty: the CA's default, classic
    ("classic", "2027-02-09", 2160, 1440, 0.12, 42),
    ("classic", "2027-02-10", 1536, 1024, 0.16, 30),
    ("classic", "2028-02-15", 1536, 1024, 0.16, 30),
    ("classic", "2028-02-16", 1080, 720, 0.23, 21),
    ("classic", "2031-01-01", 1080, 720, 0.23, 21),
    ("tlsserver", "2026-12-07", 1080, 720, 0.23, 21),
    ("tlsserver", "2028-02-16", 1080, 720, 0.23, 21),
    # 160 hours, under 10 days: renewed at half its lifetime, every 80 hours; 168 / 80 = 2.1 per
    # host, so 2 hosts (4.2) stay within 5 and 3 (6.3) do not.
    ("shortlived", "2026-12-07", 160, 80, 2.1, 2),
    ("shortlived", "2028-02-16", 160, 80, 2.1, 2),
]


@pytest.mark.parametrize(("profile", "today", "lifetime", "interval", "per_host", "max_hosts"), PROFILE_FIGURES)
def test_certificates_per_7_days_for_each_profile_date_and_number_of_hosts(
    profile, today, lifetime, interval, per_host, max_hosts
):
    """The limit is a token bucket: renewals that repeat forever must stay within its rate, 5 per 7
    days, so a host counts 7 days / its renewal interval (exact, rounded only for display)."""
    exact = Fraction(7 * 24, interval)
    for hosts in range(1, max_hosts + 3):
        figures = acme_weekly(profile, hosts, today)
        assert figures["profile"] == (profile or "classic")
        assert figures["lifetime_hours"] == lifetime
        assert figures["renewal_interval_hours"] == interval
        assert figures["per_host"] == per_host
        assert figures["hosts"] == hosts
        assert figures["certificates"] == round(float(exact * hosts), 1)
        assert figures["limit"] == 5
        assert figures["max_hosts"] == max_hosts
        # The preflight's test (hosts <= max_hosts): within the limit exactly when the exact rate is.
        assert (hosts <= figures["max_hosts"]) == (exact * hosts <= 5)


def test_shortlived_allows_two_hosts_per_set_of_names():
    figures = [acme_weekly("shortlived", hosts, "2026-12-07") for hosts in (1, 2, 3)]
    assert [(f["per_host"], f["certificates"]) for f in figures] == [(2.1, 2.1), (2.1, 4.2), (2.1, 6.3)]
    assert [f["hosts"] <= f["max_hosts"] for f in figures] == [True, True, False]
    # Classic's renewals allow more hosts than the 5 that the first certificates do: 5 stays the cap.
    assert acme_weekly("classic", 5, "2028-03-01")["certificates"] == 1.2
    assert acme_weekly("classic", 5, "2028-03-01")["max_hosts"] == 21


def test_a_profile_that_lets_encrypt_does_not_offer_has_no_figures():
    assert acme_weekly("sixdays", 3, "2026-12-07") is None


def test_the_last_renewal_says_whether_ari_drove_it():
    record = (
        "time=2026-12-07T04:00:00Z\nresult=ok\nrenewed=yes\nari=yes\nwindow_start=2026-12-06T10:00:00Z\n"
        "window_end=2026-12-08T10:00:00Z\nexpires=2027-03-07T03:00:00Z\ndays_left=89\nrelease=r2\nmessage=\n"
    )
    result = judge(files={"renewal": record})
    assert result["renewal"] == "ok 2026-12-07T04:00:00Z"
    assert result["renewal_detail"] == (
        "ok at 2026-12-07T04:00:00Z, renewed yes; ARI yes: an ARI renewal, inside the CA's window"
        " (window 2026-12-06T10:00:00Z to 2026-12-08T10:00:00Z)"
    )
    assert result["problems"] == []
    assert "  renewal: ok at 2026-12-07T04:00:00Z, renewed yes; ARI yes" in status_table([result], "staging")
    waiting = record.replace("renewed=yes", "renewed=no").replace("ari=yes", "ari=no")
    assert (
        "renewed no; ARI no: not an ARI renewal (window 2026-12-06"
        in judge(files={"renewal": waiting})["renewal_detail"]
    )
    unavailable = "time=2026-12-07T04:00:00Z\nresult=ok\nrenewed=no\nari=unavailable\nwindow_start=\nwindow_end=\n"
    assert judge(files={"renewal": unavailable})["renewal_detail"] == (
        "ok at 2026-12-07T04:00:00Z, renewed no; ARI unavailable: the CA gave no ARI window"
    )
    # A record written before ARI: no word about it.
    older = judge(files={"renewal": "time=2026-12-01T04:00:00Z\nresult=ok\nrenewed=no\n"})
    assert older["renewal_detail"] == "ok at 2026-12-01T04:00:00Z, renewed no"
    # Not letsencrypt, or never run: nothing.
    assert judge()["renewal_detail"] == ""


def test_uploads_in_an_object_store_are_judged_by_how_browsers_reach_them():
    """serve nginx: the probe fetched through the site, the store named in the problem; serve store:
    what /healthz says of the store (the site does not serve /media/ then)."""
    store = "http://s3.example.com/uploads/staging/"
    through_nginx = {"storage": "s3", "serve": "nginx", "directory": store}
    assert judge(media=through_nginx)["media"] == "ok"
    forbidden = judge(media={**through_nginx, "status": 403, "content": "<Error>AccessDenied</Error>"})
    assert forbidden["media"] == "403"
    assert forbidden["problems"] == [
        f"uploads are not served: /media/.dockerable-media-probe answered 403 ({store} must be readable without a"
        " key from the hosts (django_dockerable_media_s3_serve: nginx))"
    ]
    missing = judge(media={**through_nginx, "status": 404, "content": ""})
    assert "the serving release's /healthz writes it there" in missing["problems"][0]
    assert "nginx cannot reach" in judge(media={**through_nginx, "status": 502})["problems"][0]

    direct = {"storage": "s3", "serve": "store", "status": -1, "content": ""}
    healthy = judge(media=direct, health={"json": {"release": "r2", "media": "ok"}})
    assert (healthy["media"], healthy["problems"]) == ("ok (store)", [])
    failing = judge(
        media=direct,
        health={"status": 503, "json": {"release": "r2", "media": "bucket 'uploads' at Amazon S3: 403 Forbidden"}},
    )
    assert failing["media"] == "store fails"
    assert (
        "the uploads' object store does not answer the serving release: bucket 'uploads' at Amazon S3: 403 Forbidden"
        in failing["problems"]
    )
