"""Real clients against submitd: Python smtplib, swaks, msmtp, curl,
openssl s_client; implicit TLS and an IPv6 listener.

The relay path is not built yet, so clients that insist on sending a message
(msmtp, curl) are checked up to a successful AUTH in their protocol traces.
"""

import os
import re
import select
import smtplib
import subprocess
import time

import pytest

from conftest import (skip_or_fail, HOSTNAME, PASSWORD, USER, WAIT, assert_reply, have_ipv6_loopback,
                      need_tool, plain_ir, run, tls_client_context)

MESSAGE = "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: e2e\r\n\r\nhello\r\n"


# ------------------------------------------------------------------ smtplib

def test_smtplib_starttls_login(server, certs):
    mark = server.mark()
    host, port = server.addr("submission")
    with smtplib.SMTP(host, port, local_hostname="client.test", timeout=WAIT) as s:
        code, _ = s.ehlo()
        assert code == 250
        assert s.has_extn("starttls")
        assert "PLAIN" not in s.esmtp_features.get("auth", "").upper()
        code, _ = s.starttls(context=tls_client_context(certs.bundle))
        assert code == 220
        s.ehlo()
        assert not s.has_extn("starttls")
        assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        code, msg = s.login(USER, PASSWORD)
        assert code == 235 and msg.startswith(b"2.7.0"), (code, msg)
    server.wait_event("login", after=mark, user=USER, mechanism="PLAIN")


def test_smtplib_login_mechanism(server, certs):
    mark = server.mark()
    host, port = server.addr("submission")
    with smtplib.SMTP(host, port, local_hostname="client.test", timeout=WAIT) as s:
        s.starttls(context=tls_client_context(certs.bundle))
        s.ehlo()
        s.user, s.password = USER, PASSWORD
        code, msg = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
        assert code == 235, (code, msg)
    server.wait_event("login", after=mark, user=USER, mechanism="LOGIN")


def test_smtplib_login_initial_response(server, certs):
    host, port = server.addr("submissions")
    with smtplib.SMTP_SSL(host, port, local_hostname="client.test", timeout=WAIT,
                          context=tls_client_context(certs.bundle)) as s:
        s.ehlo()
        s.user, s.password = USER, PASSWORD
        code, msg = s.auth("LOGIN", s.auth_login, initial_response_ok=True)
        assert code == 235, (code, msg)


def test_smtplib_implicit_tls(server, certs):
    host, port = server.addr("submissions")
    with smtplib.SMTP_SSL(host, port, local_hostname="client.test", timeout=WAIT,
                          context=tls_client_context(certs.bundle)) as s:
        code, _ = s.ehlo()
        assert code == 250 and not s.has_extn("starttls")
        code, _ = s.login(USER, PASSWORD)
        assert code == 235


def test_smtplib_wrong_password(server, certs):
    host, port = server.addr("submissions")
    with smtplib.SMTP_SSL(host, port, timeout=WAIT, context=tls_client_context(certs.bundle)) as s:
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login(USER, "wrong")
        assert e.value.smtp_code == 535


def test_smtplib_no_login_without_tls(server):
    host, port = server.addr("submission")
    with smtplib.SMTP(host, port, timeout=WAIT) as s:
        s.ehlo()
        with pytest.raises(smtplib.SMTPException):
            s.login(USER, PASSWORD)


# ------------------------------------------------------------------ swaks

def swaks(server, certs, *args, listener="submission"):
    need_tool("swaks")
    host, port = server.addr(listener)
    cmd = ["swaks", "--server", host, "--port", str(port), "--helo", "client.test",
           "--from", "alice@example.org", "--to", "bob@example.org",
           "--tls-verify", "--tls-ca-path", certs.bundle, *args]
    r = run(cmd, timeout=WAIT * 2)
    if "TLS not available" in r.stdout + r.stderr or "requires Net::SSLeay" in r.stdout + r.stderr:
        skip_or_fail("swaks has no TLS support (install libnet-ssleay-perl)")
    return r


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_starttls_auth(server, certs, mech):
    mark = server.mark()
    r = swaks(server, certs, "--tls", "--auth", mech, "--auth-user", USER,
              "--auth-password", PASSWORD, "--quit-after", "AUTH")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert re.search(r"^<~  235 2\.7\.0", out, re.M), out
    server.wait_event("login", after=mark, user=USER, mechanism=mech)


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_implicit_tls_auth(server, certs, mech):
    r = swaks(server, certs, "--tlsc", "--auth", mech, "--auth-user", USER,
              "--auth-password", PASSWORD, "--quit-after", "AUTH", listener="submissions")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert re.search(r"^<~  220 mx\.test ESMTP", out, re.M), out
    assert re.search(r"^<~  235 2\.7\.0", out, re.M), out


def test_swaks_wrong_password(server, certs):
    r = swaks(server, certs, "--tls", "--auth", "PLAIN", "--auth-user", USER,
              "--auth-password", "wrong", "--quit-after", "AUTH")
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert re.search(r"^<~\* 535 5\.7\.8", out, re.M), out


def test_swaks_no_auth_offered_without_tls(server, certs):
    r = swaks(server, certs, "--auth", "PLAIN", "--auth-user", USER,
              "--auth-password", PASSWORD, "--quit-after", "AUTH")
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "235 " not in out, out


def test_swaks_tls_ehlo_lists(server, certs):
    r = swaks(server, certs, "--tls", "--quit-after", "HELO")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    # Plain-text EHLO: STARTTLS; after TLS: AUTH PLAIN LOGIN and no STARTTLS.
    before, after = out.split("TLS started", 1) if "TLS started" in out else (out, "")
    assert re.search(r"^<-  250.STARTTLS", before, re.M), out
    assert after, out
    assert re.search(r"^<~  250.AUTH PLAIN LOGIN", after, re.M), out
    assert not re.search(r"^<~  250.STARTTLS", after, re.M), out


# ------------------------------------------------------------------ msmtp

def msmtp_conf(tmp_path, server, certs, *, implicit: bool, password=PASSWORD, auth="plain"):
    listener = "submissions" if implicit else "submission"
    host, port = server.addr(listener)
    conf = tmp_path / f"msmtprc-{listener}-{auth}"
    conf.write_text("\n".join([
        "defaults",
        "tls on",
        f"tls_trust_file {certs.bundle}",
        f"tls_starttls {'off' if implicit else 'on'}",
        "account default",
        f"host {host}",
        f"port {port}",
        f"auth {auth}",
        f"user {USER}",
        f"password {password}",
        "from alice@example.org",
        "domain client.test",
        "",
    ]))
    os.chmod(conf, 0o600)
    return conf


def test_msmtp_serverinfo_starttls(server, certs, tmp_path):
    need_tool("msmtp")
    conf = msmtp_conf(tmp_path, server, certs, implicit=False)
    r = run(["msmtp", "-C", conf, "--serverinfo"], timeout=WAIT * 2)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "mx.test" in out, out
    assert re.search(r"PLAIN", out) and re.search(r"LOGIN", out), out
    assert "TLS session parameters" in out or "TLS certificate information" in out, out


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit"])
@pytest.mark.parametrize("auth", ["plain", "login"])
def test_msmtp_authenticates(server, certs, tmp_path, implicit, auth):
    """msmtp always goes on to send; the trace must show a 235 for AUTH."""
    need_tool("msmtp")
    conf = msmtp_conf(tmp_path, server, certs, implicit=implicit, auth=auth)
    mark = server.mark()
    r = run(["msmtp", "-C", conf, "--debug", "bob@example.org"], input=MESSAGE,
            timeout=WAIT * 2)
    out = r.stdout + r.stderr
    assert re.search(rf"--> AUTH {auth.upper()}", out), out
    assert re.search(r"<-- 235 2\.7\.0", out), out
    server.wait_event("login", after=mark, user=USER, mechanism=auth.upper())


def test_msmtp_wrong_password(server, certs, tmp_path):
    need_tool("msmtp")
    conf = msmtp_conf(tmp_path, server, certs, implicit=True, password="wrong")
    r = run(["msmtp", "-C", conf, "--debug", "bob@example.org"], input=MESSAGE,
            timeout=WAIT * 2)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert re.search(r"<-- 535 5\.7\.8", out), out
    assert "<-- 235" not in out


# ------------------------------------------------------------------ curl

def curl(server, certs, url_scheme, listener, *extra, user=f"{USER}:{PASSWORD}"):
    need_tool("curl")
    host, port = server.addr(listener)
    cmd = ["curl", "-v", "-sS", "--max-time", str(int(WAIT)), "--url",
           f"{url_scheme}://{host}:{port}", "--cacert", certs.bundle,
           "--user", user, "--mail-from", "alice@example.org",
           "--mail-rcpt", "bob@example.org", "--upload-file", "-", *extra]
    return run(cmd, input=MESSAGE, timeout=WAIT * 2)


def test_curl_smtp_ssl_reqd(server, certs):
    mark = server.mark()
    r = curl(server, certs, "smtp", "submission", "--ssl-reqd")
    assert "> STARTTLS" in r.stderr, r.stderr
    assert re.search(r"^< 235 2\.7\.0", r.stderr, re.M), r.stderr
    server.wait_event("login", after=mark, user=USER)


def test_curl_smtp_auth_login(server, certs):
    mark = server.mark()
    r = curl(server, certs, "smtp", "submission", "--ssl-reqd", "--login-options", "AUTH=LOGIN")
    assert "> AUTH LOGIN" in r.stderr, r.stderr
    assert re.search(r"^< 235 2\.7\.0", r.stderr, re.M), r.stderr
    server.wait_event("login", after=mark, user=USER, mechanism="LOGIN")


def test_curl_smtps(server, certs):
    mark = server.mark()
    r = curl(server, certs, "smtps", "submissions")
    assert re.search(r"^< 220 mx\.test ESMTP", r.stderr, re.M), r.stderr
    assert re.search(r"^< 235 2\.7\.0", r.stderr, re.M), r.stderr
    server.wait_event("login", after=mark, user=USER)


def test_curl_wrong_password(server, certs):
    r = curl(server, certs, "smtps", "submissions", user=f"{USER}:wrong")
    assert re.search(r"^< 535 5\.7\.8", r.stderr, re.M), r.stderr
    assert r.returncode == 67, (r.returncode, r.stderr)  # CURLE_LOGIN_DENIED


# ------------------------------------------------------------------ openssl s_client

class Interactive:
    def __init__(self, cmd):
        self.proc = subprocess.Popen([str(c) for c in cmd], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.buf = b""

    def send(self, line: str):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def read_reply(self, timeout=WAIT) -> str:
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            m = re.search(rb"^(\d{3}) [^\r\n]*\r?\n", self.buf, re.M)
            if m:
                out, self.buf = self.buf[:m.end()], self.buf[m.end():]
                return out.decode()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"s_client: no reply; have {self.buf!r}")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise EOFError(f"s_client exited; have {self.buf!r}; "
                                   f"stderr {self.proc.stderr.read().decode()}")
                self.buf += chunk

    def finish(self, timeout=WAIT):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return self.buf + out, err.decode()


def s_client(server, certs, listener, *extra):
    need_tool("openssl")
    host, port = server.addr(listener)
    return Interactive(["openssl", "s_client", "-connect", f"{host}:{port}", "-brief", "-crlf",
                        "-ign_eof", "-nocommands",
                        "-CAfile", certs.bundle, "-verify_return_error",
                        "-verify_hostname", HOSTNAME, *extra])


def test_openssl_s_client_starttls(server, certs):
    mark = server.mark()
    sc = s_client(server, certs, "submission", "-starttls", "smtp", "-name", "client.test")
    try:
        # s_client consumed the greeting, its EHLO and the 220 to STARTTLS itself.
        sc.send("EHLO client.test")
        ehlo = sc.read_reply()
        assert ehlo.startswith(f"250-{HOSTNAME}"), ehlo
        assert "STARTTLS" not in ehlo and "AUTH PLAIN LOGIN" in ehlo, ehlo
        sc.send(f"AUTH PLAIN {plain_ir()}")
        assert sc.read_reply().startswith("235 2.7.0")
        sc.send("QUIT")
        assert sc.read_reply().startswith("221 ")
    finally:
        out, err = sc.finish()
    assert "Verification: OK" in err, err
    assert "TLSv1.3" in err, err
    server.wait_event("login", after=mark, user=USER)


def test_openssl_s_client_implicit(server, certs):
    sc = s_client(server, certs, "submissions", "-servername", HOSTNAME)
    try:
        assert sc.read_reply().startswith(f"220 {HOSTNAME} ESMTP")
        sc.send("EHLO client.test")
        ehlo = sc.read_reply()
        assert "AUTH PLAIN LOGIN" in ehlo and "STARTTLS" not in ehlo, ehlo
        sc.send("AUTH LOGIN")
        assert sc.read_reply().startswith("334 ")
        import base64
        sc.send(base64.b64encode(USER.encode()).decode())
        assert sc.read_reply().startswith("334 ")
        sc.send(base64.b64encode(PASSWORD.encode()).decode())
        assert sc.read_reply().startswith("235 2.7.0")
        sc.send("QUIT")
        assert sc.read_reply().startswith("221 ")
    finally:
        out, err = sc.finish()
    assert "Verification: OK" in err, err


# ------------------------------------------------------------------ IPv6

def test_ipv6_listener(submitd, certs):
    if not have_ipv6_loopback():
        skip_or_fail("no IPv6 loopback (::1) on this machine")
    s = submitd({"listener": [
        {"name": "v4", "address": "127.0.0.1:0", "tls": "starttls"},
        {"name": "v6", "address": "[::1]:0", "tls": "starttls"},
        {"name": "v6s", "address": "[::1]:0", "tls": "implicit"},
    ]})
    assert s.addr("v6")[0] == "::1" and s.addr("v6s")[0] == "::1", s.listeners
    mark = s.mark()
    with s.connect("v6") as c:
        assert_reply(c.greeting(), 220)
        c.ehlo()
        c.starttls(tls_client_context(certs.bundle))
        c.ehlo()
        assert_reply(c.auth_plain(), 235, "2.7.0")
        local_port = c.local_port
    conn = s.wait_event("connect", after=mark, listener="v6")
    assert conn["remote"] == f"[::1]:{local_port}", conn.line
    assert conn["local"] == f"[::1]:{s.port('v6')}", conn.line
    with s.connect("v6s", tls=tls_client_context(certs.bundle)) as c:
        assert_reply(c.greeting(), 220)
    with s.connect("v4") as c:
        assert_reply(c.greeting(), 220)
