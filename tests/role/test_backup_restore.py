"""Backups and restores with the real playbooks (playbooks/backup.yml, restore.yml), on this machine's
Docker engine, for each database the kit knows: SQLite (the `local` default), the bundled PostgreSQL and
an external PostgreSQL (the tests' image, a server of its own on the host's network). For each: records
(the demo's visits) and an upload, a backup (its archive 0600 in a 0700 directory on the controller, with
the database, the upload and a manifest, no secret in its name or the -vvv output), the data lost, a
restore that brings the records and the upload back with the site serving and out of maintenance. An
archive of another environment is refused without any change, and restored with the force flag.

One deployment per engine (module fixtures), shared by the tests that need it."""

import json
import os
import re
import secrets
import stat
import tarfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from ansible_helpers import Deployment, remove_environment

from helpers import docker

SQLITE_PORT = 18040
BUNDLED_PORT = 18041
EXTERNAL_PORT = 18042
# The external PostgreSQL listens on the host's network on this port; the releases reach it at the
# address of the host on Docker's default bridge.
EXTERNAL_DATABASE_PORT = 18043
EXTERNAL_DATABASE = "dd-bk-external-pg"
UPLOAD = "backup-probe.txt"
APP_UID = 10001


class Site(Deployment):
    """A deployed `local` environment with a way to count and drop the demo's records."""

    def __init__(self, *args, psql=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.psql = psql  # docker exec arguments that run psql in the environment's database, or None: SQLite

    def sql(self, statement):
        if self.psql:
            return docker("exec", *self.psql, "-tAc", statement).stdout.strip()
        import sqlite3

        database = self.env_dir / "data/db.sqlite3"
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            return str(connection.execute(statement).fetchone()[0])

    def visits(self):
        return int(self.sql("SELECT count(*) FROM pages_visit"))

    def visit(self, times=3):
        for _ in range(times):
            assert self.get("/").status == 200

    def upload(self):
        """An uploaded file, as Django writes them (the app's user, 0644); returns its content."""
        content = secrets.token_hex(8)
        path = self.env_dir / "media" / UPLOAD
        path.write_text(content)
        os.chown(path, APP_UID, APP_UID)
        path.chmod(0o644)
        assert self.get(f"/media/{UPLOAD}").data.decode() == content
        return content

    def backups(self):
        directory = Path(self.variables["django_dockerable_backup_dir"]) / f"{self.project}-local"
        return sorted(directory.glob("*.tar.gz"))


def deploy(tmp_path_factory, project, port, psql=None, **variables):
    remove_environment(project)
    site = Site(
        tmp_path_factory.mktemp(project) / "srv",
        tmp_path_factory.mktemp("vars"),
        project,
        port,
        psql=psql,
        backup_dir=str(tmp_path_factory.mktemp("backups") / "kept"),
        **variables,
    )
    started = time.monotonic()
    result = site.run("deploy.yml")
    assert result.returncode == 0, failure(result)
    site.deployed_in = time.monotonic() - started
    return site


@pytest.fixture(scope="module")
def sqlite(tmp_path_factory, image):
    site = deploy(tmp_path_factory, "dd-bk-sqlite", SQLITE_PORT)
    yield site
    site.remove()


@pytest.fixture(scope="module")
def bundled(tmp_path_factory, image, postgres_image):
    project = "dd-bk-bundled"
    site = deploy(
        tmp_path_factory, project, BUNDLED_PORT, psql=[f"{project}-local-db", "psql", "-U", "site", "-d", "site"],
        database_engine="postgresql", database_bundled=True, database_image=postgres_image,
        database_name="site", database_user="site", database_password=secrets.token_urlsafe(24),
    )  # fmt: skip
    yield site
    site.remove()


@pytest.fixture(scope="module")
def external(tmp_path_factory, image, postgres_image):
    password = secrets.token_urlsafe(24)
    docker("rm", "--force", "--volumes", EXTERNAL_DATABASE, check=False)
    docker(
        "run", "--detach", "--name", EXTERNAL_DATABASE, "--network", "host",
        "--env", f"PGPORT={EXTERNAL_DATABASE_PORT}", "--env", f"POSTGRES_PASSWORD={password}",
        "--env", "POSTGRES_USER=app", "--env", "POSTGRES_DB=app",
        postgres_image,
    )  # fmt: skip
    for _ in range(120):
        ready = ["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(EXTERNAL_DATABASE_PORT)]
        if docker("exec", EXTERNAL_DATABASE, *ready, check=False).returncode == 0:
            break
        time.sleep(0.5)
    else:
        pytest.fail("PostgreSQL did not start:\n" + docker("logs", EXTERNAL_DATABASE, check=False).stderr)
    host = docker("network", "inspect", "bridge", "-f", "{{(index .IPAM.Config 0).Gateway}}").stdout.strip()
    site = deploy(
        tmp_path_factory, "dd-bk-external", EXTERNAL_PORT,
        psql=[EXTERNAL_DATABASE, "psql", "-p", str(EXTERNAL_DATABASE_PORT), "-U", "app", "-d", "app"],
        database_engine="postgresql", database_host=host, database_port=EXTERNAL_DATABASE_PORT,
        database_image=postgres_image, database_name="app", database_user="app", database_password=password,
    )  # fmt: skip
    yield site
    site.remove()
    docker("rm", "--force", "--volumes", EXTERNAL_DATABASE, check=False)


def failure(result):
    """The first failed task's lines of a run's output (the -vvv output is long), and its end."""
    start = max(result.stdout.find("fatal: "), result.stdout.find("FAILED!"))
    return (result.stdout[start - 300 : start + 3000] if start >= 0 else "") + "\n...\n" + result.stdout[-1500:]


def secrets_of(site):
    values = [site.secret_key, site.variables.get("django_dockerable_database_password")]
    return [value for value in values if value]


def backup(site, *args):
    """backup.yml with -vvv: records and an upload first. Returns what was backed up."""
    site.visit()
    before = site.backups()
    records, upload = site.visits(), site.upload()
    started = time.monotonic()
    result = site.run("playbooks/backup.yml", "-vvv", *args)
    assert result.returncode == 0, failure(result)
    (archive,) = set(site.backups()) - set(before)
    return SimpleNamespace(
        archive=archive, records=records, upload=upload, output=result.stdout, seconds=time.monotonic() - started
    )


def check_archive(site, made, engine, release):
    text = made.output
    for value in secrets_of(site):
        assert value not in text
        assert value not in made.archive.name
    assert stat.S_IMODE(made.archive.stat().st_mode) == 0o600
    assert stat.S_IMODE(made.archive.parent.stat().st_mode) == 0o700
    assert re.fullmatch(rf"{site.project}-local-\d{{8}}T\d{{6}}Z-{re.escape(release)}\.tar\.gz", made.archive.name)
    with tarfile.open(made.archive) as archive:
        names = archive.getnames()
        manifest = json.load(archive.extractfile("manifest.json"))
        assert archive.extractfile(f"media/{UPLOAD}").read().decode() == made.upload
    database = "database.sqlite3" if engine == "sqlite" else "database.dump"
    assert {"manifest.json", database, f"media/{UPLOAD}"} <= set(names)
    assert not [name for name in names if "pgpass" in name]
    assert manifest["environment"] == "local" and manifest["project"] == site.project
    assert manifest["release"] == release and manifest["database"]["engine"] == engine
    assert manifest["kit"] == "django-dockerable" and manifest["format"] == 1
    # The host keeps no copy: the private directory is gone.
    assert not list(site.env_dir.glob(".backup-*")) and not list((site.env_dir / "data").glob(".backup-*"))


def restore(site, archive, *args, **overrides):
    started = time.monotonic()
    result = site.run("playbooks/restore.yml", "-e", f"django_dockerable_restore_from={archive}", *args, **overrides)
    return result, time.monotonic() - started


def check_restored(site, records, upload):
    assert site.visits() == records
    assert site.get(f"/media/{UPLOAD}").data.decode() == upload
    assert site.get("/healthz").status == 200
    assert site.get("/").status == 200  # out of maintenance
    assert not (site.env_dir / "maintenance/on").exists()
    assert not site.lock.exists()
    assert not list(site.env_dir.glob(".restore-*")) and not list((site.env_dir / "data").glob(".restore-*"))


def lose_the_data(site, destroy_database):
    (site.env_dir / "media" / UPLOAD).unlink()
    destroy_database()
    assert site.get(f"/media/{UPLOAD}").status == 404


def test_sqlite_backup_then_restore_after_the_database_file_is_gone(sqlite):
    release = sqlite.current()
    made = backup(sqlite)
    check_archive(sqlite, made, "sqlite", release)
    assert "The uploads (" in made.output

    lose_the_data(sqlite, lambda: (sqlite.env_dir / "data/db.sqlite3").unlink())
    result, seconds = restore(sqlite, made.archive.name)  # a file name: looked up in the backup directory
    assert result.returncode == 0, failure(result)
    check_restored(sqlite, made.records, made.upload)
    assert f"restore archive={made.archive.name} release={release} from=dd-bk-sqlite/local result=ok" in sqlite.audit()
    print(f"sqlite: deploy {sqlite.deployed_in:.0f} s, backup {made.seconds:.0f} s, restore {seconds:.0f} s")

    # Retention: with django_dockerable_backup_keep 1, the new archive replaces the older one.
    result = sqlite.run("playbooks/backup.yml", backup_keep=1)
    assert result.returncode == 0, failure(result)
    (kept,) = sqlite.backups()
    assert kept != made.archive


def test_bundled_postgresql_backup_then_restore_after_the_records_are_dropped(bundled):
    release = bundled.current()
    made = backup(bundled)
    check_archive(bundled, made, "postgresql", release)

    lose_the_data(bundled, lambda: bundled.sql("DELETE FROM pages_visit"))
    assert bundled.visits() == 0
    result, seconds = restore(bundled, str(made.archive))  # a path
    assert result.returncode == 0, failure(result)
    check_restored(bundled, made.records, made.upload)
    print(f"bundled: deploy {bundled.deployed_in:.0f} s, backup {made.seconds:.0f} s, restore {seconds:.0f} s")


@pytest.fixture(scope="module")
def external_backup(external):
    release = external.current()
    made = backup(external)
    check_archive(external, made, "postgresql", release)
    return made


def test_external_postgresql_backup_then_restore_keeps_secrets_out_of_the_output(external, external_backup):
    made = external_backup
    lose_the_data(external, lambda: external.sql("DELETE FROM pages_visit"))
    result, seconds = restore(external, made.archive, "-vvv")
    assert result.returncode == 0, failure(result)
    for value in secrets_of(external):
        assert value not in result.stdout
    check_restored(external, made.records, made.upload)
    print(f"external: deploy {external.deployed_in:.0f} s, backup {made.seconds:.0f} s, restore {seconds:.0f} s")


def test_another_environments_backup_is_refused_unless_forced(bundled, external_backup):
    """The external environment's archive, into the bundled one: refused before any change, naming the
    force flag; restored with it (the records and upload are the other environment's then)."""
    bundled.visit(2)
    records = bundled.visits()
    audit = bundled.audit()
    result, _ = restore(bundled, external_backup.archive)
    text = " ".join(result.stdout.split())
    assert result.returncode != 0
    assert "a backup of the local environment of dd-bk-external" in text
    assert "django_dockerable_restore_force=true" in text
    assert bundled.visits() == records and bundled.audit() == audit
    assert not (bundled.env_dir / "maintenance/on").exists() and not bundled.lock.exists()

    result, _ = restore(bundled, external_backup.archive, restore_force=True)
    assert result.returncode == 0, failure(result)
    check_restored(bundled, external_backup.records, external_backup.upload)
