"""`submitd check` and `submitd pw`."""

import re

import pytest

from conftest import (REPO, assert_reply, base_config, need_tool, passwd_text, run,
                      submitd_bin, tls_client_context, to_toml)


@pytest.fixture
def cfg(tmp_path, certs, alice_hash):
    (tmp_path / "passwd").write_text(passwd_text({"alice": alice_hash}))
    return base_config(tmp_path, certs)


def check(path, stdout_only=False):
    r = run([submitd_bin(), "check", "--config", path])
    return r.returncode, r.stdout if stdout_only else r.stdout + r.stderr


def names_line(out: str, line: int) -> bool:
    return re.search(rf"(line[ :=]*{line}\b|:{line}(:|\b))", out, re.I) is not None


def test_check_good_config(tmp_path, cfg):
    path = tmp_path / "good.toml"
    path.write_text(to_toml(cfg))
    rc, out = check(path)
    assert rc == 0, out
    assert "mx.test" in out, out
    # Effective settings include defaults not in the file.
    assert "max_auth_line" in out and "12288" in out, out


def reference_text(tmp_path) -> str:
    text = (REPO / "etc" / "submitd.toml").read_text()
    return (text.replace("/etc/submitd/cert.pem", str(tmp_path / "tls" / "cert.pem"))
                .replace("/etc/submitd/key.pem", str(tmp_path / "tls" / "key.pem"))
                .replace("/etc/submitd/passwd", str(tmp_path / "passwd")))


def test_check_reference_config(tmp_path, cfg):
    """etc/submitd.toml (with test paths) is valid, and every key it sets
    shows in the effective settings."""
    path = tmp_path / "reference.toml"
    text = reference_text(tmp_path)
    path.write_text(text)
    rc, out = check(path)
    assert rc == 0, out
    keys = set(re.findall(r"^([a-z_]+)\s*=", text, re.M))
    assert keys, "no keys found in etc/submitd.toml"
    missing = sorted(k for k in keys if k not in out)
    assert not missing, f"keys not in the effective settings: {missing}\n{out}"


def test_reference_documents_the_defaults(tmp_path, cfg):
    """The reference file says every key has its default value: a config
    with only the paths and listeners must give the same effective settings."""
    path = tmp_path / "submitd.toml"
    path.write_text(reference_text(tmp_path))
    rc, full = check(path, stdout_only=True)
    assert rc == 0, full
    minimal = to_toml({
        "listener": [
            {"name": "submission", "address": "127.0.0.1:587", "tls": "starttls"},
            {"name": "submissions", "address": "127.0.0.1:465", "tls": "implicit"},
        ],
        "tls": {"certificate": str(tmp_path / "tls" / "cert.pem"),
                "key": str(tmp_path / "tls" / "key.pem")},
        "passdb": {"path": str(tmp_path / "passwd")},
        "relay": [{"address": "127.0.0.1:10025"}],
    })
    path.write_text(minimal)
    rc, small = check(path, stdout_only=True)
    assert rc == 0, small
    assert small == full, f"defaults differ from etc/submitd.toml:\n--- reference\n{full}\n--- minimal\n{small}"


def config_with_line(tmp_path, cfg, table: str, line_text: str) -> tuple:
    """The config with `line_text` added as the first line of [table];
    returns (path, line number)."""
    lines = to_toml(cfg).split("\n")
    at = lines.index(f"[{table}]") + 1
    lines.insert(at, line_text)
    path = tmp_path / "bad.toml"
    path.write_text("\n".join(lines))
    return path, at + 1


@pytest.mark.parametrize("table,line,key", [
    ("server", "hostnmae = \"x\"", "hostnmae"),
    ("limits", "max_comand_line = 100", "max_comand_line"),
    ("auth", "mechanism = [\"PLAIN\"]", "mechanism"),
    ("tls", "certificat = \"/x\"", "certificat"),
])
def test_check_unknown_key(tmp_path, cfg, table, line, key):
    path, lineno = config_with_line(tmp_path, cfg, table, line)
    rc, out = check(path)
    assert rc == 2, out
    assert key in out, f"message does not name {key}: {out}"
    assert names_line(out, lineno), f"message does not name line {lineno}: {out}"


def test_check_unknown_table(tmp_path, cfg):
    path = tmp_path / "bad.toml"
    text = to_toml(cfg) + "\n[relayy]\nhost = \"x\"\n"
    path.write_text(text)
    lineno = text.split("\n").index("[relayy]") + 1
    rc, out = check(path)
    assert rc == 2, out
    assert "relayy" in out
    assert names_line(out, lineno) or names_line(out, lineno + 1), out


@pytest.mark.parametrize("table,key,value", [
    ("server", "workers", '"two"'),
    ("server", "workers", "-1"),
    ("server", "log_level", '"verbose"'),
    ("limits", "max_command_line", "100"),        # below RFC 5321's 512
    ("limits", "idle_timeout", "-5.0"),
    ("auth", "failure_delay", '"slow"'),
    ("auth", "mechanisms", '["PLAIN", "NTLM"]'),
    ("tls", "min_version", '"TLSv1.1"'),
    ("passdb", "driver", '"ldap"'),
])
def test_check_bad_value(tmp_path, cfg, table, key, value):
    cfg[table].pop(key, None)
    path, lineno = config_with_line(tmp_path, cfg, table, f"{key} = {value}")
    rc, out = check(path)
    assert rc == 2, out
    assert key in out, f"message does not name {key}: {out}"
    assert names_line(out, lineno), f"message does not name line {lineno}: {out}"


@pytest.mark.parametrize("address", ["127.0.0.1:99999", "127.0.0.1", "[::1:0", "nohost:25x"])
def test_check_bad_listener_address(tmp_path, cfg, address):
    cfg["listener"][0]["address"] = address
    text = to_toml(cfg)
    path = tmp_path / "bad.toml"
    path.write_text(text)
    lineno = text.split("\n").index(f"address = \"{address}\"") + 1
    rc, out = check(path)
    assert rc == 2, out
    assert "address" in out and names_line(out, lineno), out


def test_check_bad_listener_tls_kind(tmp_path, cfg):
    cfg["listener"][1]["tls"] = "sometimes"
    text = to_toml(cfg)
    path = tmp_path / "bad.toml"
    path.write_text(text)
    lineno = text.split("\n").index('tls = "sometimes"') + 1
    rc, out = check(path)
    assert rc == 2, out
    assert "tls" in out and names_line(out, lineno), out


def test_check_toml_syntax_error(tmp_path, cfg):
    text = to_toml(cfg).replace('banner = "submitd"', 'banner = "submitd')
    lineno = text.split("\n").index('banner = "submitd') + 1
    path = tmp_path / "bad.toml"
    path.write_text(text)
    rc, out = check(path)
    assert rc == 2, out
    assert names_line(out, lineno), out


def test_check_missing_file(tmp_path):
    path = tmp_path / "does-not-exist.toml"
    rc, out = check(path)
    assert rc == 2, out
    assert str(path) in out or "does-not-exist.toml" in out, out


def test_check_missing_certificate(tmp_path, cfg):
    cfg["tls"]["certificate"] = str(tmp_path / "no-cert.pem")
    path = tmp_path / "c.toml"
    path.write_text(to_toml(cfg))
    rc, out = check(path)
    assert rc == 2, out
    assert "no-cert.pem" in out, out


@pytest.mark.parametrize("entry", [
    "nohash:secret:1000:1000::/home/x::",      # no scheme
    "weird:{ROT13}frperg:1000:1000::/home/x::",  # unknown scheme
])
def test_check_bad_passdb_line(tmp_path, cfg, entry):
    (tmp_path / "passwd").write_text("# users\nalice:{PLAIN}secret\n\n" + entry + "\n")
    path = tmp_path / "c.toml"
    path.write_text(to_toml(cfg))
    rc, out = check(path)
    assert rc == 2, out
    assert names_line(out, 4), f"message does not name passdb line 4: {out}"


# ----------------------------------------------------------------- pw

PW_SCHEMES = ["SHA512-CRYPT", "SHA256-CRYPT", "BLF-CRYPT", "ARGON2I", "ARGON2ID",
              "SSHA256", "SSHA512", "PLAIN"]


@pytest.mark.parametrize("scheme", PW_SCHEMES)
def test_pw_verified_by_doveadm(scheme):
    need_tool("doveadm")
    r = run([submitd_bin(), "pw", "--scheme", scheme], input="s3cret pass\n")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1, r.stdout
    h = lines[0]
    assert h.startswith("{" + scheme + "}"), h
    assert "s3cret" not in h or scheme == "PLAIN"
    ok = run(["doveadm", "pw", "-t", h, "-p", "s3cret pass"])
    assert ok.returncode == 0, f"doveadm does not verify {h}: {ok.stdout}{ok.stderr}"
    bad = run(["doveadm", "pw", "-t", h, "-p", "other"])
    assert bad.returncode != 0


def test_pw_salted():
    a = run([submitd_bin(), "pw", "--scheme", "SHA512-CRYPT"], input="same\n").stdout.strip()
    b = run([submitd_bin(), "pw", "--scheme", "SHA512-CRYPT"], input="same\n").stdout.strip()
    assert a.startswith("{SHA512-CRYPT}$6$") and b.startswith("{SHA512-CRYPT}$6$")
    assert a != b, "two hashes of one password share a salt"


def test_pw_unknown_scheme():
    r = run([submitd_bin(), "pw", "--scheme", "NO-SUCH-SCHEME"], input="x\n")
    assert r.returncode != 0
    assert "{NO-SUCH-SCHEME}" not in r.stdout


def test_pw_hash_authenticates(submitd, certs):
    h = run([submitd_bin(), "pw", "--scheme", "ARGON2ID"], input="pw-from-tool\n",
            check=True).stdout.strip()
    s = submitd(passwd=passwd_text({"erin": h}))
    with s.connect("submissions", tls=tls_client_context(certs.bundle)) as c:
        c.greeting()
        c.ehlo()
        assert_reply(c.auth_plain("erin", "pw-from-tool"), 235, "2.7.0")
