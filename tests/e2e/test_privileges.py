"""Privilege drop: ports bound and keys read as root, then the process runs
as the configured user and group."""

import os
import pwd
import grp
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from conftest import skip_or_fail, Certs, assert_reply, tls_client_context


def ids(status: Path) -> tuple[set, set]:
    uids, gids = set(), set()
    for line in status.read_text().splitlines():
        if line.startswith("Uid:"):
            uids = {int(x) for x in line.split()[1:]}
        if line.startswith("Gid:"):
            gids = {int(x) for x in line.split()[1:]}
    return uids, gids


@pytest.fixture
def world_readable_dir():
    if os.geteuid() != 0:
        skip_or_fail("privilege drop needs the tests to run as root")
    try:
        pwd.getpwnam("nobody")
        grp.getgrnam("nogroup")
    except KeyError:
        skip_or_fail("no user nobody / group nogroup")
    d = Path(tempfile.mkdtemp(prefix="submitd-e2e-priv-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_drops_to_configured_user(submitd, certs, world_readable_dir):
    s = submitd({"server": {"user": "nobody", "group": "nogroup"}}, start=False,
                workdir=world_readable_dir / "srv")
    s.dir.chmod(0o755)
    (s.dir / "passwd").chmod(0o644)
    key = Path(s.config["tls"]["key"])
    key.chmod(0o600)  # only root can read the key: it must be read before the drop
    s.start()
    uids, gids = ids(Path(f"/proc/{s.proc.pid}/status"))
    assert uids == {pwd.getpwnam("nobody").pw_uid}, uids
    assert gids == {grp.getgrnam("nogroup").gr_gid}, gids
    # Per-thread credentials too (setuid must apply to every worker thread).
    for task in Path(f"/proc/{s.proc.pid}/task").iterdir():
        tu, tg = ids(task / "status")
        assert tu == uids and tg == gids, (task.name, tu, tg)
    assert "privileges kept" not in s.log_text()
    with s.connect("submissions", tls=tls_client_context(certs.bundle)) as c:
        assert_reply(c.greeting(), 220)
        c.ehlo()
        assert_reply(c.auth_plain(), 235, "2.7.0")


def test_reload_after_drop_keeps_serving(submitd, certs, world_readable_dir):
    """After the drop, a SIGHUP that must read a root-only key either works
    or is refused with a log line; the server keeps serving either way."""
    s = submitd({"server": {"user": "nobody", "group": "nogroup"}}, start=False,
                workdir=world_readable_dir / "srv")
    s.dir.chmod(0o755)
    (s.dir / "passwd").chmod(0o644)
    s.start()
    shutil.copy(certs.b_cert, s.config["tls"]["certificate"])
    shutil.copy(certs.b_key, s.config["tls"]["key"])
    Path(s.config["tls"]["key"]).chmod(0o600)
    mark = s.mark()
    s.send_signal(signal.SIGHUP)
    s.wait_event("reload", after=mark)
    ok = "reload ok" in s.log_text()[mark:]
    print("reload after privilege drop:", s.log_text()[mark:])
    assert s.proc.poll() is None
    ctx = tls_client_context(certs.bundle)
    with s.connect("submissions", tls=ctx) as c:
        want = certs.b_cert if ok else certs.a_cert
        assert c.sock.getpeercert(binary_form=True) == Certs.der(want), f"reload ok={ok}"
        assert_reply(c.greeting(), 220)
