"""The maildir outbox (`address = "maildir:PATH"`): each accepted message is
a file in PATH/new (written via PATH/tmp), envelope lines first."""

import os
import re

from conftest import assert_reply, open_session, relay_config, split_received, submit

MSG = b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: outbox\r\n\r\n.dot\r\nhello\r\n"


def parse(data: bytes):
    env = []
    rest = data
    while True:
        m = re.match(rb"(X-Envelope-(?:From|To): [^\r\n]*)\r?\n", rest)
        if not m:
            break
        env.append(m.group(1).decode())
        rest = rest[m.end():]
    return env, rest


def test_outbox_one_file_per_message(submitd, certs, tmp_path):
    box = tmp_path / "outbox"
    server = submitd(relay_config(f"maildir:{box}"))
    mark = server.mark()
    c = open_session(server, certs)
    assert_reply(submit(c, "alice@example.org", ["bob@example.net", "carol@example.net"], MSG), 250)
    # fsync'd before the 250: the file is there now, complete, and tmp/ is empty
    files = sorted((box / "new").iterdir())
    assert len(files) == 1
    assert list((box / "tmp").iterdir()) == []
    assert (box / "cur").is_dir()
    env, rest = parse(files[0].read_bytes())
    assert env == ["X-Envelope-From: <alice@example.org>", "X-Envelope-To: <bob@example.net>",
                   "X-Envelope-To: <carol@example.net>"] or env == [
        "X-Envelope-From: alice@example.org", "X-Envelope-To: bob@example.net",
        "X-Envelope-To: carol@example.net"], env
    _, body = split_received(rest)
    assert body == MSG
    ev = server.wait_event("message", after=mark)
    assert ev["relay"].startswith("maildir:") and ev["reply"].startswith("250")
    assert_reply(submit(c, "alice@example.org", ["dave@example.net"], MSG), 250)
    names = sorted(p.name for p in (box / "new").iterdir())
    assert len(names) == 2 and len(set(names)) == 2
    assert all(re.fullmatch(r"[^/:]+", n) for n in names), names


def test_outbox_unwritable_is_451(submitd, certs, tmp_path):
    box = tmp_path / "outbox"
    (box / "new").mkdir(parents=True)
    (box / "tmp").write_text("not a directory")
    (box / "cur").mkdir()
    server = submitd(relay_config(f"maildir:{box}"))
    c = open_session(server, certs)
    from conftest import attempt
    _, r = attempt(c, "alice@example.org", ["bob@example.net"], MSG)
    assert r.code == 451, r
    assert list((box / "new").iterdir()) == []
