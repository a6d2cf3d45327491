// Scripted dialogs against the BURL IMAP client (STYLE.md §10, after the
// relay handshake tests): each script lists what the server sends, what
// submitd must write, the fetches the driver starts when the machine is ready
// and their results, in order. A simulated driver runs the machine on the
// server's bytes and records a transcript, which must match the script's for
// the bytes fed whole, split at every offset and one byte at a time; then the
// server's bytes are cut short at every offset, as a dropped connection
// would, and the machine must be left waiting with a prefix of the dialog.
// The server's side is written as Dovecot 2.3 and Cyrus 3.6 send it.
#include "imap/client.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../smtp/split_feed.hpp"

namespace submitd::imap {
namespace {

// --- the simulated driver -----------------------------------------------------

/// What the driver does when the machine is ready.
struct action {
    enum class kind { urlfetch, uid_fetch, logout };
    kind what = kind::logout;
    std::string url;
    std::string mailbox;
    std::optional<std::uint32_t> uidvalidity;
    std::uint32_t uid = 0;
    std::string section;
    std::optional<std::pair<std::uint64_t, std::uint64_t>> partial;
    std::uint64_t max_size = 0;
};

const char* status_name(fetch_status s) {
    switch (s) {
        case fetch_status::ok:
            return "ok";
        case fetch_status::nil:
            return "nil";
        case fetch_status::too_big:
            return "too_big";
        case fetch_status::error:
            return "error";
    }
    return "?";
}

std::string result_entry(fetch_status s, std::string_view octets) {
    std::string out = std::string("result ") + status_name(s);
    if (s == fetch_status::ok) out += " " + test::escape(octets);
    return out;
}

/// Transcript entries: "C: <bytes written>", "TLS", "ready" (logged in),
/// "result <status> [<octets>]" (a fetch ended), "idle" (ready, and the
/// script has nothing more to do), "done", "failed <stage>", "waiting" (the
/// machine wants to read and the server sent nothing more).
using transcript = std::vector<std::string>;

/// A dialog in the order it happens. The server's bytes are grouped in
/// phases at each TLS handshake: after it they come through TLS.
class script {
public:
    script& server(const std::string& bytes) {
        phases_.back() += bytes;
        return *this;
    }
    script& client(const std::string& bytes) {
        want_.push_back("C: " + bytes);
        return *this;
    }
    script& tls() {
        want_.emplace_back("TLS");
        phases_.emplace_back();
        return *this;
    }
    script& ready() {
        want_.emplace_back("ready");
        return *this;
    }
    script& urlfetch(std::string url, std::uint64_t max_size = 1 << 20) {
        action a;
        a.what = action::kind::urlfetch;
        a.url = std::move(url);
        a.max_size = max_size;
        actions_.push_back(std::move(a));
        return *this;
    }
    script& uid_fetch(std::string mailbox, std::optional<std::uint32_t> uidvalidity,
                      std::uint32_t uid, std::string section = "",
                      std::optional<std::pair<std::uint64_t, std::uint64_t>> partial = {},
                      std::uint64_t max_size = 1 << 20) {
        action a;
        a.what = action::kind::uid_fetch;
        a.mailbox = std::move(mailbox);
        a.uidvalidity = uidvalidity;
        a.uid = uid;
        a.section = std::move(section);
        a.partial = partial;
        a.max_size = max_size;
        actions_.push_back(std::move(a));
        return *this;
    }
    script& logout() {
        actions_.push_back(action{});
        return *this;
    }
    script& result(fetch_status s, std::string_view octets = {}) {
        want_.push_back(result_entry(s, octets));
        return *this;
    }
    script& idle() {
        want_.emplace_back("idle");
        return *this;
    }
    script& done() {
        want_.emplace_back("done");
        return *this;
    }
    script& fails(const std::string& stage) {
        want_.push_back("failed " + stage);
        return *this;
    }
    script& waits() {
        want_.emplace_back("waiting");
        return *this;
    }

    const std::vector<std::string>& phases() const { return phases_; }
    const std::vector<action>& actions() const { return actions_; }
    const transcript& want() const { return want_; }

private:
    std::vector<std::string> phases_{std::string()};
    std::vector<action> actions_;
    transcript want_;
};

step perform(client& c, const action& a) {
    switch (a.what) {
        case action::kind::urlfetch:
            return c.urlfetch(a.url, a.max_size);
        case action::kind::uid_fetch:
            return c.uid_fetch(a.mailbox, a.uidvalidity, a.uid, a.section, a.partial, a.max_size);
        case action::kind::logout:
            return c.logout();
    }
    return step::failed;
}

/// Runs a fresh client as a driver would on the server's bytes, given as
/// pieces per phase, and returns the transcript. Each call's output is
/// recorded and cleared before the next call; bytes the machine leaves are
/// offered again (after the action, at ready) before the next piece.
transcript run(const client_settings& settings, const std::vector<test::pieces>& phases,
               const std::vector<action>& actions) {
    client c(settings);
    transcript out;
    step st = c.start();
    std::size_t phase = 0;
    std::size_t piece = 0;
    std::size_t next_action = 0;
    bool fetching = false;
    std::string pending;
    int stalled = 0;
    for (;;) {
        if (!c.output().empty()) {
            out.push_back("C: " + c.output());
            c.clear_output();
            EXPECT_TRUE(c.output().empty());
        }
        switch (st) {
            case step::done:
                out.emplace_back("done");
                return out;
            case step::failed:
                out.push_back("failed " + c.failure_info().stage);
                EXPECT_FALSE(c.failure_info().reason.empty());
                return out;
            case step::start_tls:
                out.emplace_back("TLS");
                EXPECT_TRUE(pending.empty()) << "bytes left after the OK to STARTTLS";
                pending.clear();
                if (++phase >= phases.size()) {
                    out.emplace_back("waiting");
                    return out;
                }
                piece = 0;
                st = c.on_tls_established();
                continue;
            case step::ready:
                if (fetching) {
                    out.push_back(result_entry(c.result().status, c.result().octets));
                    EXPECT_TRUE(c.result().status == fetch_status::ok || c.result().octets.empty());
                    fetching = false;
                } else {
                    out.emplace_back("ready");
                }
                if (next_action >= actions.size()) {
                    out.emplace_back("idle");
                    return out;
                }
                fetching = actions[next_action].what != action::kind::logout;
                st = perform(c, actions[next_action++]);
                if (st == step::read) {
                    EXPECT_FALSE(c.output().empty()) << "a command to write";
                }
                continue;
            case step::read:
                break;
        }
        if (!pending.empty()) {
            // An exactly sized copy, so AddressSanitizer sees reads past the end.
            const std::vector<char> exact(pending.begin(), pending.end());
            std::size_t consumed = 0;
            st = c.on_input(std::string_view(exact.data(), exact.size()), consumed);
            if (consumed > exact.size()) {
                ADD_FAILURE() << "consumed " << consumed << " of " << exact.size();
                return out;
            }
            pending.erase(0, consumed);
            if (consumed > 0 || st != step::read || !c.output().empty()) {
                stalled = 0;
                continue;
            }
            if (++stalled > test::max_stalled_calls) {
                ADD_FAILURE() << "the machine reads but consumes nothing";
                return out;
            }
        }
        if (phase >= phases.size() || piece >= phases[phase].size()) {
            out.emplace_back("waiting");
            return out;
        }
        pending.append(phases[phase][piece++]);
    }
}

/// Runs `s` with every phase whole, then each phase split at every offset
/// and byte by byte (the others whole): the same transcript each time.
void check_splits(const client_settings& settings, const script& s) {
    std::vector<test::pieces> whole;
    for (const auto& p : s.phases())
        whole.push_back({p});
    EXPECT_EQ(run(settings, whole, s.actions()), s.want()) << "whole";
    for (std::size_t i = 0; i < s.phases().size(); ++i) {
        for (const auto& split : test::all_splits(s.phases()[i])) {
            auto phases = whole;
            phases[i] = split.parts;
            const transcript got = run(settings, phases, s.actions());
            if (got != s.want()) {
                ADD_FAILURE() << "phase " << i << ", " << split.label << ": got "
                              << ::testing::PrintToString(got) << ", want "
                              << ::testing::PrintToString(s.want());
                return;
            }
        }
    }
}

/// Cuts the server's bytes at every offset of every phase (earlier phases
/// whole, nothing after): the machine is left waiting, having done a prefix
/// of the full dialog, or the dialog's end was already decided.
void check_cut_short(const client_settings& settings, const script& s) {
    for (std::size_t i = 0; i < s.phases().size(); ++i) {
        const std::string& phase = s.phases()[i];
        for (std::size_t cut = 0; cut < phase.size(); ++cut) {
            std::vector<test::pieces> phases;
            for (std::size_t j = 0; j < i; ++j)
                phases.push_back({s.phases()[j]});
            phases.push_back({std::string_view(phase).substr(0, cut)});
            transcript got = run(settings, phases, s.actions());
            if (got == s.want()) continue;
            ASSERT_FALSE(got.empty());
            ASSERT_EQ(got.back(), "waiting")
                << "phase " << i << " cut at " << cut << ": " << ::testing::PrintToString(got);
            got.pop_back();
            ASSERT_LE(got.size(), s.want().size());
            EXPECT_TRUE(std::equal(got.begin(), got.end(), s.want().begin()))
                << "phase " << i << " cut at " << cut << ": " << ::testing::PrintToString(got);
        }
    }
}

void check(const client_settings& settings, const script& s) {
    check_splits(settings, s);
    check_cut_short(settings, s);
}

// --- settings and the servers' side -------------------------------------------

core::secret_string password(std::string_view("s3cret"));

/// The URLAUTH account: base64("\0submit\0s3cret").
client_settings submit_settings() {
    client_settings s;
    s.user = "submit";
    s.password = &password;
    return s;
}
const std::string submit_plain = "AHN1Ym1pdABzM2NyZXQ=";

/// The master user logging in as alice: base64("alice\0master\0s3cret").
client_settings master_settings() {
    client_settings s;
    s.user = "master";
    s.authzid = "alice";
    s.password = &password;
    return s;
}
const std::string master_plain = "YWxpY2UAbWFzdGVyAHMzY3JldA==";

const std::string dovecot_caps =
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN";
const std::string dovecot_greeting =
    "* OK [CAPABILITY " + dovecot_caps + "] Dovecot (Debian) ready.\r\n";
std::string dovecot_logged_in(const std::string& tag) {
    return tag +
           " OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY "
           "THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE "
           "UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC "
           "ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY "
           "PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE URLAUTH URLAUTH=BINARY LITERAL+ NOTIFY "
           "SPECIAL-USE] Logged in\r\n";
}
std::string dovecot_examine(const std::string& tag, std::uint32_t uidvalidity = 1700000000) {
    return "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
           "* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n"
           "* 2 EXISTS\r\n"
           "* 0 RECENT\r\n"
           "* OK [UIDVALIDITY " +
           std::to_string(uidvalidity) +
           "] UIDs valid\r\n"
           "* OK [UIDNEXT 3] Predicted next UID\r\n"
           "* OK [HIGHESTMODSEQ 4] Highest\r\n" +
           tag + " OK [READ-ONLY] Examine completed (0.001 + 0.000 secs).\r\n";
}
std::string dovecot_fetched(const std::string& tag) {
    return tag + " OK Fetch completed (0.001 + 0.000 secs).\r\n";
}
std::string dovecot_logout(const std::string& tag) {
    return "* BYE Logging out\r\n" + tag + " OK Logout completed (0.001 + 0.000 secs).\r\n";
}

const std::string cyrus_greeting =
    "* OK [CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE STARTTLS AUTH=PLAIN AUTH=LOGIN SASL-IR] "
    "imap.example.org Cyrus IMAP 3.6.1-Debian-3.6.1-4 server ready\r\n";
std::string cyrus_logged_in(const std::string& tag) {
    return tag +
           " OK [CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE ACL RIGHTS=kxten QUOTA "
           "MAILBOX-REFERRALS NAMESPACE UIDPLUS NO_ATOMIC_RENAME UNSELECT CHILDREN MULTIAPPEND "
           "BINARY CATENATE CONDSTORE ESEARCH SORT SORT=MODSEQ SORT=DISPLAY SORT=UID "
           "THREAD=ORDEREDSUBJECT THREAD=REFERENCES LIST-EXTENDED LIST-STATUS WITHIN QRESYNC "
           "SCAN XLIST XMOVE MOVE SPECIAL-USE CREATE-SPECIAL-USE DIGEST=SHA1 STATUS=SIZE OBJECTID "
           "SAVEDATE PREVIEW=FUZZY IDLE URLAUTH URLAUTH=BINARY] Success (no protection) "
           "SESSIONID=<cyrus-1234-1700000000-1-1234567890123456789>\r\n";
}

const std::string url =
    "imap://alice@127.0.0.1:1143/INBOX;UIDVALIDITY=1700000000/;UID=1;urlauth=submit+alice:"
    "internal:0123456789abcdef0123456789abcdef01234567";

/// A message whose bytes look like responses, literals and parentheses.
const std::string message =
    "Return-Path: <alice@example.org>\r\nFrom: Alice <alice@example.org>\r\n"
    "To: bob@example.net\r\nSubject: (BURL) test\r\n\r\n"
    "* BYE this is message text\r\na3 OK not a reply\r\n{5}\r\n" +
    std::string("\0\x01\xfe\xff)(", 6) + "\r\n";

std::string literal(const std::string& data) {
    return "{" + std::to_string(data.size()) + "}\r\n" + data;
}

/// Dovecot's greeting and a PLAIN login with SASL-IR as `plain`, tag a1.
script dovecot_login(const std::string& plain) {
    return script()
        .server(dovecot_greeting)
        .client("a1 AUTHENTICATE PLAIN " + plain + "\r\n")
        .server(dovecot_logged_in("a1"))
        .ready();
}

// --- greeting and capabilities -------------------------------------------------

TEST(imap_client, dovecot_greeting_with_capabilities) {
    check(submit_settings(), dovecot_login(submit_plain)
                                 .logout()
                                 .client("a2 LOGOUT\r\n")
                                 .server(dovecot_logout("a2"))
                                 .done());
}

TEST(imap_client, capabilities_asked_when_the_greeting_has_none) {
    const script s =
        script()
            .server("* OK IMAP4rev1 Service Ready\r\n")
            .client("a1 CAPABILITY\r\n")
            .server("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\na1 OK CAPABILITY completed\r\n")
            .client("a2 AUTHENTICATE PLAIN\r\n")
            .server("+ \r\n")
            .client(submit_plain + "\r\n")
            .server("a2 OK Logged in\r\n")
            .ready()
            .idle();
    check(submit_settings(), s);

    // In the tagged OK's code instead of an untagged CAPABILITY.
    check(submit_settings(), script()
                                 .server("* OK ready\r\n")
                                 .client("a1 CAPABILITY\r\n")
                                 .server("a1 OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] Done\r\n")
                                 .client("a2 AUTHENTICATE PLAIN " + submit_plain + "\r\n")
                                 .server("a2 OK Logged in\r\n")
                                 .ready()
                                 .idle());
}

TEST(imap_client, capabilities_after_login) {
    client c(submit_settings());
    std::size_t consumed = 0;
    c.start();
    std::string in = dovecot_greeting;
    EXPECT_EQ(c.on_input(in, consumed), step::read);
    EXPECT_EQ(c.capabilities().size(), 9U);
    EXPECT_EQ(c.capabilities()[0], "IMAP4REV1");
    c.clear_output();
    in = "* CAPABILITY IMAP4rev1 X-ONE\r\na1 OK [CAPABILITY IMAP4rev1 URLAUTH] Logged in\r\n";
    EXPECT_EQ(c.on_input(in, consumed), step::ready);
    EXPECT_EQ(c.capabilities(), (std::vector<std::string>{"IMAP4REV1", "URLAUTH"}));

    // Without a code the old ones stay.
    client d(submit_settings());
    d.start();
    in = dovecot_greeting;
    d.on_input(in, consumed);
    in = "a1 OK Logged in\r\n";
    EXPECT_EQ(d.on_input(in, consumed), step::ready);
    EXPECT_EQ(d.capabilities().size(), 9U);
}

TEST(imap_client, greetings_that_fail) {
    const std::vector<std::string> greetings = {
        "* PREAUTH [CAPABILITY IMAP4rev1] Logged in as alice\r\n",
        "* BYE Too many connections\r\n",
        "* NO go away\r\n",
        "* 1 EXISTS\r\n",
        "a1 OK hello\r\n",
        "+ hello\r\n",
        "+OK POP3 server ready\r\n",
        "HTTP/1.1 400 Bad Request\r\n",
        "220 mx.example.org ESMTP\r\n",
    };
    for (const auto& g : greetings) {
        SCOPED_TRACE(g);
        check(submit_settings(), script().server(g).fails("greeting"));
    }
    // The greeting's failure says why.
    client c(submit_settings());
    std::size_t consumed = 0;
    c.start();
    EXPECT_EQ(c.on_input("* PREAUTH ready\r\n", consumed), step::failed);
    EXPECT_EQ(c.failure_info().stage, "greeting");
    EXPECT_EQ(c.failure_info().reason, "the server greeted with PREAUTH: ready");
}

TEST(imap_client, capability_refused) {
    check(submit_settings(), script()
                                 .server("* OK ready\r\n")
                                 .client("a1 CAPABILITY\r\n")
                                 .server("a1 BAD no\r\n")
                                 .fails("capability"));
}

// --- STARTTLS ------------------------------------------------------------------

client_settings starttls_settings() {
    client_settings s = submit_settings();
    s.tls = imap_tls::starttls;
    return s;
}

TEST(imap_client, starttls_then_capabilities_again) {
    check(starttls_settings(),
          script()
              .server(dovecot_greeting)
              .client("a1 STARTTLS\r\n")
              .server("a1 OK Begin TLS negotiation now.\r\n")
              .tls()
              .client("a2 CAPABILITY\r\n")
              .server("* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN URLAUTH\r\na2 OK Pre-login "
                      "capabilities listed, post-login capabilities have more.\r\n")
              .client("a3 AUTHENTICATE PLAIN " + submit_plain + "\r\n")
              .server(dovecot_logged_in("a3"))
              .ready()
              .logout()
              .client("a4 LOGOUT\r\n")
              .server(dovecot_logout("a4"))
              .done());
}

TEST(imap_client, starttls_asks_for_capabilities_first) {
    check(starttls_settings(),
          script()
              .server("* OK ready\r\n")
              .client("a1 CAPABILITY\r\n")
              .server("* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\na1 OK\r\n")
              .client("a2 STARTTLS\r\n")
              .server("a2 OK go\r\n")
              .tls()
              .client("a3 CAPABILITY\r\n")
              .server("* CAPABILITY IMAP4rev1\r\na3 OK\r\n")
              .client("a4 LOGIN \"submit\" \"s3cret\"\r\n")
              .server("a4 OK\r\n")
              .ready()
              .idle());
}

TEST(imap_client, capabilities_before_tls_are_forgotten) {
    // AUTH=PLAIN offered in plaintext (perhaps by a man in the middle) but
    // not under TLS: LOGIN is used.
    check(starttls_settings(), script()
                                   .server(dovecot_greeting)
                                   .client("a1 STARTTLS\r\n")
                                   .server("a1 OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] go\r\n")
                                   .tls()
                                   .client("a2 CAPABILITY\r\n")
                                   .server("a2 OK [CAPABILITY IMAP4rev1] done\r\n")
                                   .client("a3 LOGIN \"submit\" \"s3cret\"\r\n")
                                   .server("a3 OK\r\n")
                                   .ready()
                                   .idle());
}

TEST(imap_client, starttls_not_offered_or_refused) {
    check(starttls_settings(),
          script().server("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n").fails("starttls"));
    check(starttls_settings(), script()
                                   .server(dovecot_greeting)
                                   .client("a1 STARTTLS\r\n")
                                   .server("a1 NO TLS not available\r\n")
                                   .fails("starttls"));
}

TEST(imap_client, bytes_after_the_starttls_ok_are_an_injection) {
    const std::string ok = "a1 OK Begin TLS negotiation now.\r\n";
    const std::string injected = "a2 OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake\r\n";
    for (const auto& after : {injected, std::string("*"), std::string("\r\n")}) {
        client c(starttls_settings());
        std::size_t consumed = 0;
        c.start();
        EXPECT_EQ(c.on_input(dovecot_greeting, consumed), step::read);
        EXPECT_EQ(c.output(), "a1 STARTTLS\r\n");
        c.clear_output();
        const std::string in = ok + after;
        EXPECT_EQ(c.on_input(in, consumed), step::failed);
        EXPECT_EQ(c.failure_info().stage, "starttls");
        EXPECT_TRUE(c.output().empty());
    }
    // Split right after the OK, the machine cannot tell: it asks for TLS
    // (the driver then finds the plaintext bytes and gives up).
    client c(starttls_settings());
    std::size_t consumed = 0;
    c.start();
    c.on_input(dovecot_greeting, consumed);
    c.clear_output();
    EXPECT_EQ(c.on_input(ok, consumed), step::start_tls);
    EXPECT_EQ(consumed, ok.size());
    EXPECT_EQ(c.on_input(injected, consumed), step::start_tls);
    EXPECT_EQ(consumed, 0U);
}

TEST(imap_client, implicit_tls_sends_no_starttls) {
    client_settings s = submit_settings();
    s.tls = imap_tls::implicit;
    check(s, dovecot_login(submit_plain).idle());
}

// --- login ---------------------------------------------------------------------

TEST(imap_client, authenticate_plain_as_master_user_with_sasl_ir) {
    check(master_settings(), dovecot_login(master_plain).idle());
    EXPECT_EQ(password.view(), "s3cret");  // read, not consumed
}

TEST(imap_client, authenticate_plain_without_sasl_ir) {
    check(master_settings(), script()
                                 .server("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n")
                                 .client("a1 AUTHENTICATE PLAIN\r\n")
                                 .server("+ \r\n")
                                 .client(master_plain + "\r\n")
                                 .server("a1 OK Logged in\r\n")
                                 .ready()
                                 .idle());
    // A server that sends no space after "+".
    check(master_settings(), script()
                                 .server("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n")
                                 .client("a1 AUTHENTICATE PLAIN\r\n")
                                 .server("+\r\n")
                                 .client(master_plain + "\r\n")
                                 .server("a1 OK Logged in\r\n")
                                 .ready()
                                 .idle());
}

TEST(imap_client, login_with_quoted_strings) {
    core::secret_string pw(std::string_view("pa\"ss\\word"));
    client_settings s = submit_settings();
    s.user = "bob smith";
    s.password = &pw;
    check(s, script()
                 .server("* OK [CAPABILITY IMAP4rev1 AUTH=LOGIN] ready\r\n")
                 .client("a1 LOGIN \"bob smith\" \"pa\\\"ss\\\\word\"\r\n")
                 .server("a1 OK [CAPABILITY IMAP4rev1 URLAUTH] Logged in\r\n")
                 .ready()
                 .idle());
}

TEST(imap_client, login_with_literals) {
    core::secret_string pw(std::string_view("p\xc3\xa4ssword"));
    client_settings s = submit_settings();
    s.password = &pw;
    check(s, script()
                 .server("* OK [CAPABILITY IMAP4rev1] ready\r\n")
                 .client("a1 LOGIN \"submit\" {9}\r\n")
                 .server("+ Ready for literal data\r\n")
                 .client("p\xc3\xa4ssword\r\n")
                 .server("a1 OK Logged in\r\n")
                 .ready()
                 .idle());
    // Both as literals; the server may refuse before the last part.
    s.user = "line\r\nbreak";
    check(s, script()
                 .server("* OK [CAPABILITY IMAP4rev1] ready\r\n")
                 .client("a1 LOGIN {11}\r\n")
                 .server("+ go\r\n")
                 .client("line\r\nbreak {9}\r\n")
                 .server("+ go\r\n")
                 .client("p\xc3\xa4ssword\r\n")
                 .server("a1 OK Logged in\r\n")
                 .ready()
                 .idle());
    check(s, script()
                 .server("* OK [CAPABILITY IMAP4rev1] ready\r\n")
                 .client("a1 LOGIN {11}\r\n")
                 .server("a1 BAD no literals here\r\n")
                 .fails("login"));
}

TEST(imap_client, no_usable_login) {
    // LOGINDISABLED without AUTH=PLAIN.
    check(
        submit_settings(),
        script().server("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] x\r\n").fails("login"));
    // A master-user login needs PLAIN.
    check(master_settings(),
          script().server("* OK [CAPABILITY IMAP4rev1 AUTH=LOGIN] x\r\n").fails("login"));
    // Credentials that cannot be sent.
    core::secret_string empty;
    core::secret_string nul(std::string("a\0b", 3));
    for (core::secret_string* pw : {static_cast<core::secret_string*>(nullptr), &empty, &nul}) {
        client_settings s = submit_settings();
        s.password = pw;
        check(s, script().server(dovecot_greeting).fails("login"));
    }
    client_settings s = submit_settings();
    s.user.clear();
    check(s, script().server(dovecot_greeting).fails("login"));
}

TEST(imap_client, login_refused) {
    check(submit_settings(), script()
                                 .server(dovecot_greeting)
                                 .client("a1 AUTHENTICATE PLAIN " + submit_plain + "\r\n")
                                 .server("a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
                                 .fails("login"));
    client c(submit_settings());
    std::size_t consumed = 0;
    c.start();
    c.on_input(dovecot_greeting, consumed);
    c.clear_output();
    EXPECT_EQ(c.on_input("a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n", consumed),
              step::failed);
    EXPECT_EQ(c.failure_info().reason,
              "the server refused the login: [AUTHENTICATIONFAILED] Authentication failed.");
}

TEST(imap_client, unexpected_continuation) {
    // The initial response was sent: a challenge now is not PLAIN.
    check(submit_settings(), script()
                                 .server(dovecot_greeting)
                                 .client("a1 AUTHENTICATE PLAIN " + submit_plain + "\r\n")
                                 .server("+ \r\n")
                                 .fails("login"));
}

TEST(imap_client, login_line_is_wiped) {
    client c(submit_settings());
    std::size_t consumed = 0;
    c.start();
    c.on_input(dovecot_greeting, consumed);
    ASSERT_TRUE(c.output().starts_with("a1 AUTHENTICATE PLAIN "));
    // A driver that writes the line but forgets clear_output(): the next call
    // wipes it before anything else.
    const char* data = c.output().data();
    const std::size_t size = c.output().size();
    EXPECT_EQ(c.on_input("a1 OK Logged in\r\n", consumed), step::ready);
    EXPECT_TRUE(c.output().empty());
    EXPECT_EQ(c.output().data(), data);  // the same buffer, now zeroed
    EXPECT_EQ(std::string_view(data, size), std::string(size, '\0'));
}

// --- URLFETCH --------------------------------------------------------------------

TEST(imap_client, urlfetch_cyrus) {
    check(submit_settings(),
          script()
              .server(cyrus_greeting)
              .client("a1 AUTHENTICATE PLAIN " + submit_plain + "\r\n")
              .server(cyrus_logged_in("a1"))
              .ready()
              .urlfetch(url)
              .client("a2 URLFETCH \"" + url + "\"\r\n")
              .server("* URLFETCH \"" + url + "\" " + literal(message) + "\r\na2 OK Completed\r\n")
              .result(fetch_status::ok, message)
              .logout()
              .client("a3 LOGOUT\r\n")
              .server("* BYE LOGOUT received\r\na3 OK Completed\r\n")
              .done());
}

TEST(imap_client, urlfetch_dovecot_unquoted_url) {
    check(submit_settings(), dovecot_login(submit_plain)
                                 .urlfetch(url)
                                 .client("a2 URLFETCH \"" + url + "\"\r\n")
                                 .server("* URLFETCH " + url + " " + literal(message) +
                                         "\r\na2 OK URLFETCH completed\r\n")
                                 .result(fetch_status::ok, message)
                                 .idle());
    // literal8 (URLAUTH=BINARY servers may use it).
    check(submit_settings(), dovecot_login(submit_plain)
                                 .urlfetch(url)
                                 .client("a2 URLFETCH \"" + url + "\"\r\n")
                                 .server("* URLFETCH " + url + " ~" + literal(message) +
                                         "\r\na2 OK URLFETCH completed\r\n")
                                 .result(fetch_status::ok, message)
                                 .idle());
}

TEST(imap_client, urlfetch_nil_none_or_another_url) {
    check(submit_settings(),
          dovecot_login(submit_plain)
              .urlfetch(url)
              .client("a2 URLFETCH \"" + url + "\"\r\n")
              .server("* URLFETCH " + url + " NIL\r\na2 OK done\r\n")
              .result(fetch_status::nil)
              .urlfetch(url)
              .client("a3 URLFETCH \"" + url + "\"\r\n")
              .server("a3 OK done\r\n")
              .result(fetch_status::nil)
              .urlfetch(url)
              .client("a4 URLFETCH \"" + url + "\"\r\n")
              .server("* URLFETCH \"" + url + "X\" {5}\r\nhello\r\na4 OK done\r\n")
              .result(fetch_status::nil)
              .idle());
}

TEST(imap_client, urlfetch_refused_is_an_error_and_the_connection_stays) {
    check(submit_settings(), dovecot_login(submit_plain)
                                 .urlfetch(url)
                                 .client("a2 URLFETCH \"" + url + "\"\r\n")
                                 .server("a2 NO [TEMPFAIL] Internal error\r\n")
                                 .result(fetch_status::error)
                                 .urlfetch(url)
                                 .client("a3 URLFETCH \"" + url + "\"\r\n")
                                 .server("a3 BAD Unknown command\r\n")
                                 .result(fetch_status::error)
                                 .logout()
                                 .client("a4 LOGOUT\r\n")
                                 .server(dovecot_logout("a4"))
                                 .done());
}

TEST(imap_client, urlfetch_too_big_then_the_next_fetch) {
    const std::string small = "Subject: x\r\n\r\nhi\r\n";
    check(submit_settings(),
          dovecot_login(submit_plain)
              .urlfetch(url, message.size() - 1)
              .client("a2 URLFETCH \"" + url + "\"\r\n")
              .server("* URLFETCH " + url + " " + literal(message) + "\r\na2 OK done\r\n")
              .result(fetch_status::too_big)
              .urlfetch(url, message.size())
              .client("a3 URLFETCH \"" + url + "\"\r\n")
              .server("* URLFETCH " + url + " " + literal(message) + "\r\na3 OK done\r\n")
              .result(fetch_status::ok, message)
              .urlfetch(url, 5)
              .client("a4 URLFETCH \"" + url + "\"\r\n")
              .server("* URLFETCH " + url + " \"" + std::string(6, 'q') + "\"\r\na4 OK done\r\n")
              .result(fetch_status::too_big)
              .idle());
}

TEST(imap_client, urlfetch_url_as_a_literal_or_not_at_all) {
    const std::string odd = url + "/\xc3\xa9";
    check(submit_settings(),
          dovecot_login(submit_plain)
              .urlfetch(odd)
              .client("a2 URLFETCH {" + std::to_string(odd.size()) + "}\r\n")
              .server("+ OK\r\n")
              .client(odd + "\r\n")
              .server("* URLFETCH " + literal(odd) + " \"abc\"\r\na2 OK done\r\n")
              .result(fetch_status::ok, "abc")
              .urlfetch(std::string("imap://x\0y", 10))  // nothing is sent
              .result(fetch_status::nil)
              .idle());
}

// --- EXAMINE and UID FETCH -------------------------------------------------------

script master_examined() {
    return dovecot_login(master_plain)
        .uid_fetch("INBOX", 1700000000, 1)
        .client("a2 EXAMINE \"INBOX\"\r\n")
        .server(dovecot_examine("a2"))
        .client("a3 UID FETCH 1 (BODY.PEEK[])\r\n");
}

TEST(imap_client, uid_fetch_dovecot_uid_first) {
    check(master_settings(), master_examined()
                                 .server("* 1 FETCH (UID 1 BODY[] " + literal(message) + ")\r\n" +
                                         dovecot_fetched("a3"))
                                 .result(fetch_status::ok, message)
                                 .logout()
                                 .client("a4 LOGOUT\r\n")
                                 .server(dovecot_logout("a4"))
                                 .done());
}

TEST(imap_client, uid_fetch_uid_after_body_and_flags) {
    check(master_settings(),
          master_examined()
              .server("* 1 FETCH (FLAGS (\\Seen \\Answered) BODY[] " + literal(message) +
                      " MODSEQ (4) UID 1)\r\n" + dovecot_fetched("a3"))
              .result(fetch_status::ok, message)
              .idle());
}

TEST(imap_client, uid_fetch_ignores_other_messages_and_flag_updates) {
    check(master_settings(), master_examined()
                                 .server("* 2 FETCH (UID 2 BODY[] {5}\r\nwrong)\r\n"
                                         "* 1 FETCH (FLAGS (\\Seen) UID 1)\r\n"
                                         "* 1 FETCH (UID 1 BODY[TEXT] {4}\r\ntext)\r\n"
                                         "* 1 FETCH (UID 1 BODY[] {5}\r\nright)\r\n"
                                         "* 3 EXISTS\r\n"
                                         "* 2 FETCH (BODY[] {5}\r\nwrong UID 2)\r\n"
                                         "* 1 FETCH (FLAGS (\\Seen))\r\n" +
                                         dovecot_fetched("a3"))
                                 .result(fetch_status::ok, "right")
                                 .idle());
}

TEST(imap_client, uid_fetch_nil_quoted_and_missing) {
    check(master_settings(),
          master_examined()
              .server("* 1 FETCH (UID 1 BODY[] NIL)\r\n" + dovecot_fetched("a3"))
              .result(fetch_status::nil)
              .uid_fetch("INBOX", 1700000000, 2, "HEADER")
              .client("a4 UID FETCH 2 (BODY.PEEK[HEADER])\r\n")
              .server("* 2 FETCH (UID 2 BODY[HEADER] \"Subject: \\\"hi\\\"\")\r\n" +
                      dovecot_fetched("a4"))
              .result(fetch_status::ok, "Subject: \"hi\"")
              .uid_fetch("INBOX", 1700000000, 9)
              .client("a5 UID FETCH 9 (BODY.PEEK[])\r\n")
              .server(dovecot_fetched("a5"))
              .result(fetch_status::nil)
              .idle());
}

TEST(imap_client, uid_fetch_partial_and_section) {
    check(
        master_settings(),
        master_examined()
            .server("* 1 FETCH (UID 1 BODY[] " + literal(message) + ")\r\n" + dovecot_fetched("a3"))
            .result(fetch_status::ok, message)
            .uid_fetch("INBOX", 1700000000, 1, "1.2", std::make_pair(0, 100))
            .client("a4 UID FETCH 1 (BODY.PEEK[1.2]<0.100>)\r\n")
            .server("* 1 FETCH (UID 1 BODY[1.2]<0> {10}\r\n0123456789)\r\n" + dovecot_fetched("a4"))
            .result(fetch_status::ok, "0123456789")
            .uid_fetch("INBOX", std::nullopt, 1, "header.fields (From To)")
            .client("a5 UID FETCH 1 (BODY.PEEK[header.fields (From To)])\r\n")
            .server("* 1 FETCH (UID 1 BODY[HEADER.FIELDS (FROM TO)] {9}\r\nFrom: a\r\n)\r\n" +
                    dovecot_fetched("a5"))
            .result(fetch_status::ok, "From: a\r\n")
            .idle());
}

TEST(imap_client, uid_fetch_too_big_then_the_next_fetch) {
    check(
        master_settings(),
        dovecot_login(master_plain)
            .uid_fetch("INBOX", 1700000000, 1, "", std::nullopt, message.size() - 1)
            .client("a2 EXAMINE \"INBOX\"\r\n")
            .server(dovecot_examine("a2"))
            .client("a3 UID FETCH 1 (BODY.PEEK[])\r\n")
            .server("* 1 FETCH (UID 1 BODY[] " + literal(message) + ")\r\n" + dovecot_fetched("a3"))
            .result(fetch_status::too_big)
            .uid_fetch("INBOX", 1700000000, 1)
            .client("a4 UID FETCH 1 (BODY.PEEK[])\r\n")
            .server("* 1 FETCH (UID 1 BODY[] " + literal(message) + ")\r\n" + dovecot_fetched("a4"))
            .result(fetch_status::ok, message)
            .idle());
}

TEST(imap_client, uid_fetch_refused_is_an_error) {
    check(master_settings(), master_examined()
                                 .server("a3 NO [SERVERBUG] Internal error\r\n")
                                 .result(fetch_status::error)
                                 .idle());
}

TEST(imap_client, examine_refused) {
    check(master_settings(),
          dovecot_login(master_plain)
              .uid_fetch("Archive/2023", 1700000000, 1)
              .client("a2 EXAMINE \"Archive/2023\"\r\n")
              .server("a2 NO [NONEXISTENT] Mailbox doesn't exist: Archive/2023\r\n")
              .result(fetch_status::nil)
              // Nothing is selected now: the next fetch examines again.
              .uid_fetch("Archive/2023", 1700000000, 1)
              .client("a3 EXAMINE \"Archive/2023\"\r\n")
              .server("a3 BAD Error in IMAP command EXAMINE: Invalid arguments.\r\n")
              .result(fetch_status::error)
              .idle());
}

TEST(imap_client, uidvalidity_mismatch_fetches_nothing) {
    check(master_settings(),
          dovecot_login(master_plain)
              .uid_fetch("INBOX", 1600000000, 1)
              .client("a2 EXAMINE \"INBOX\"\r\n")
              .server(dovecot_examine("a2"))
              .result(fetch_status::nil)
              // The mailbox stays selected with its real UIDVALIDITY.
              .uid_fetch("INBOX", 1700000000, 1)
              .client("a3 UID FETCH 1 (BODY.PEEK[])\r\n")
              .server("* 1 FETCH (UID 1 BODY[] {2}\r\nok)\r\n" + dovecot_fetched("a3"))
              .result(fetch_status::ok, "ok")
              .idle());
    // No UIDVALIDITY from the server: a URL that names one cannot be checked.
    check(master_settings(), dovecot_login(master_plain)
                                 .uid_fetch("INBOX", 1700000000, 1)
                                 .client("a2 EXAMINE \"INBOX\"\r\n")
                                 .server("* 2 EXISTS\r\na2 OK [READ-ONLY] done\r\n")
                                 .result(fetch_status::nil)
                                 .idle());
}

TEST(imap_client, examine_skipped_for_the_same_mailbox) {
    check(master_settings(),
          master_examined()
              .server("* 1 FETCH (UID 1 BODY[] {2}\r\nok)\r\n" + dovecot_fetched("a3"))
              .result(fetch_status::ok, "ok")
              .uid_fetch("INBOX", 1700000000, 2)
              .client("a4 UID FETCH 2 (BODY.PEEK[])\r\n")
              .server("* 2 FETCH (UID 2 BODY[] {3}\r\nok2)\r\n" + dovecot_fetched("a4"))
              .result(fetch_status::ok, "ok2")
              .uid_fetch("INBOX", std::nullopt, 2)
              .client("a5 UID FETCH 2 (BODY.PEEK[])\r\n")
              .server("* 2 FETCH (UID 2 BODY[] {3}\r\nok2)\r\n" + dovecot_fetched("a5"))
              .result(fetch_status::ok, "ok2")
              // Another mailbox (a name that needs a literal), then INBOX again.
              .uid_fetch("Entw\xc3\xbcrfe", std::nullopt, 1)
              .client("a6 EXAMINE {9}\r\n")
              .server("+ OK\r\n")
              .client("Entw\xc3\xbcrfe\r\n")
              .server(dovecot_examine("a6", 5))
              .client("a7 UID FETCH 1 (BODY.PEEK[])\r\n")
              .server("* 1 FETCH (UID 1 BODY[] {1}\r\nd)\r\n" + dovecot_fetched("a7"))
              .result(fetch_status::ok, "d")
              .uid_fetch("INBOX", 1700000000, 1)
              .client("a8 EXAMINE \"INBOX\"\r\n")
              .server(dovecot_examine("a8"))
              .client("a9 UID FETCH 1 (BODY.PEEK[])\r\n")
              .server(dovecot_fetched("a9"))
              .result(fetch_status::nil)
              .idle());
}

TEST(imap_client, requests_that_cannot_be_sent) {
    check(master_settings(), dovecot_login(master_plain)
                                 .uid_fetch("INBOX", std::nullopt, 0)
                                 .result(fetch_status::nil)
                                 .uid_fetch("INBOX", std::nullopt, 1, "1]<0.5> BODY[")
                                 .result(fetch_status::nil)
                                 .uid_fetch("INBOX", std::nullopt, 1, "TEXT\r\na9 LOGOUT")
                                 .result(fetch_status::nil)
                                 .uid_fetch(std::string("IN\0BOX", 6), std::nullopt, 1)
                                 .result(fetch_status::nil)
                                 .uid_fetch("INBOX", std::nullopt, 1, "", std::make_pair(5, 0))
                                 .result(fetch_status::nil)
                                 .logout()
                                 .client("a2 LOGOUT\r\n")
                                 .server(dovecot_logout("a2"))
                                 .done());
}

// --- BYE, tags and hostile servers ------------------------------------------------

TEST(imap_client, bye_mid_fetch) {
    check(master_settings(), master_examined()
                                 .server("* BYE Server shutting down.\r\n" + dovecot_fetched("a3"))
                                 .fails("fetch"));
    check(master_settings(), master_examined()
                                 .server("* 1 FETCH (UID 1 BODY[] {5}\r\nhello)\r\n"
                                         "* BYE Server shutting down.\r\n")
                                 .fails("fetch"));
    // Right after the literal, inside the FETCH response: malformed.
    check(master_settings(), master_examined()
                                 .server("* 1 FETCH (UID 1 BODY[] {5}\r\nhello* BYE shutdown\r\n")
                                 .fails("fetch"));
    check(master_settings(), master_examined()
                                 .server("* 1 FETCH (UID 1 BODY[] {5}\r\nhello\r\n* BYE x\r\n")
                                 .fails("fetch"));
    check(submit_settings(), dovecot_login(submit_plain)
                                 .urlfetch(url)
                                 .client("a2 URLFETCH \"" + url + "\"\r\n")
                                 .server("* URLFETCH " + url + " {5}\r\nhello\r\n* BYE bye\r\n")
                                 .fails("fetch"));
}

TEST(imap_client, bye_while_idle_or_logging_out) {
    client c(submit_settings());
    std::size_t consumed = 0;
    c.start();
    c.on_input(dovecot_greeting, consumed);
    c.clear_output();
    const std::string in =
        dovecot_logged_in("a1") + "* 4 EXISTS\r\n* BYE Disconnected for inactivity.\r\n";
    EXPECT_EQ(c.on_input(in, consumed), step::ready);
    std::string_view rest = std::string_view(in).substr(consumed);
    EXPECT_EQ(c.on_input(rest, consumed), step::failed);
    EXPECT_EQ(consumed, rest.size());
    EXPECT_EQ(c.failure_info().stage, "fetch");
    EXPECT_EQ(c.failure_info().reason,
              "the server closed the connection: Disconnected for inactivity.");

    // The BYE before LOGOUT's OK is expected; OK without BYE is fine too.
    check(submit_settings(), dovecot_login(submit_plain)
                                 .logout()
                                 .client("a2 LOGOUT\r\n")
                                 .server("a2 OK Logout completed.\r\n")
                                 .done());
    check(submit_settings(), dovecot_login(submit_plain)
                                 .logout()
                                 .client("a2 LOGOUT\r\n")
                                 .server("* BYE Logging out\r\na2 NO what\r\n")
                                 .fails("logout"));
    client d(submit_settings());
    d.start();
    d.on_input(dovecot_greeting, consumed);
    d.on_input(dovecot_logged_in("a1"), consumed);
    EXPECT_EQ(d.logout(), step::read);
    EXPECT_EQ(d.on_input("* BYE Logging out\r\n", consumed), step::read);
    EXPECT_TRUE(d.bye_seen());
    const std::string ok = "a2 OK Logout completed.\r\nleftover";
    EXPECT_EQ(d.on_input(ok, consumed), step::done);
    EXPECT_EQ(consumed, ok.size() - 8);
    EXPECT_EQ(d.on_input("more", consumed), step::done);
    EXPECT_EQ(consumed, 0U);
}

TEST(imap_client, unknown_tag) {
    check(submit_settings(), script()
                                 .server(dovecot_greeting)
                                 .client("a1 AUTHENTICATE PLAIN " + submit_plain + "\r\n")
                                 .server("a7 OK Logged in\r\n")
                                 .fails("login"));
    check(submit_settings(), dovecot_login(submit_plain)
                                 .urlfetch(url)
                                 .client("a2 URLFETCH \"" + url + "\"\r\n")
                                 .server("a1 OK again\r\n")
                                 .fails("fetch"));
}

TEST(imap_client, untagged_responses_at_any_time_are_skipped) {
    check(master_settings(),
          script()
              .server("* OK [ALERT] maintenance tonight\r\n")  // the greeting
              .client("a1 CAPABILITY\r\n")
              .server("* NO [ALERT] disk almost full\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN "
                      "SASL-IR\r\n* OK still here\r\na1 OK done\r\n")
              .client("a2 AUTHENTICATE PLAIN " + master_plain + "\r\n")
              .server("* ENABLED\r\n* LIST () \"/\" {5}\r\nINBOX\r\na2 OK in\r\n")
              .ready()
              .uid_fetch("INBOX", std::nullopt, 1)
              .client("a3 EXAMINE \"INBOX\"\r\n")
              .server("* STATUS {5}\r\na3 OK (MESSAGES 1)\r\n* 1 EXISTS\r\na3 OK done\r\n")
              .client("a4 UID FETCH 1 (BODY.PEEK[])\r\n")
              .server("* 2 EXPUNGE\r\n* 1 FETCH (UID 1 BODY[] {1}\r\nx)\r\n* 2 RECENT\r\na4 OK\r\n")
              .result(fetch_status::ok, "x")
              .idle());
}

TEST(imap_client, limits) {
    client_settings s = submit_settings();
    s.max_line = 200;
    s.max_other_literal = 10;
    check(s, script().server("* OK " + std::string(196, 'x') + "\r\n").fails("greeting"));
    check(s, script()
                 .server("* OK " + std::string(195, 'x') + "\r\n")
                 .client("a1 CAPABILITY\r\n")
                 .waits());
    check(s, script()
                 .server("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] hi\r\n")
                 .client("a1 AUTHENTICATE PLAIN " + submit_plain + "\r\n")
                 .server("* LIST () \"/\" {11}\r\n")
                 .fails("login"));
    // The fetched data is not bound by max_other_literal, nor by max_line.
    check(s, script()
                 .server("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] hi\r\n")
                 .client("a1 AUTHENTICATE PLAIN " + submit_plain + "\r\n")
                 .server("a1 OK\r\n")
                 .ready()
                 .urlfetch(url)
                 .client("a2 URLFETCH \"" + url + "\"\r\n")
                 .server("* URLFETCH " + url + " " + literal(message) + "\r\na2 OK\r\n")
                 .result(fetch_status::ok, message)
                 .idle());
}

TEST(imap_client, malformed_responses_fail) {
    const std::vector<std::string> bad = {
        "* 1 FETCH (UID 1 BODY[] {12x}\r\n",
        "* 1 FETCH (UID 1 BODY[] {5}hello)\r\n",
        "* 1 FETCH (UID 1 BODY[] {5}\r\nhello\r\n",
        "* 1 FETCH (UID 1 BODY[] {5}\r\nhello))\r\n",
        "* 1x FETCH (UID 1)\r\n",
        "* 1 FETCH (UID 1 BODY[] {3}\r\nhello)\r\n",  // longer than announced
        "a3 OK done\n",
        "* 1 FETCH (UID 1 BODY[] \"a" + std::string(1, '\0') + "b\")\r\n",
    };
    for (const auto& b : bad) {
        SCOPED_TRACE(test::escape(b));
        check(master_settings(), master_examined().server(b).fails("fetch"));
    }
}

TEST(imap_client, literal_shorter_than_announced) {
    // The literal eats the tag line: the machine waits for the rest, and
    // fails once what follows cannot close the FETCH.
    check(master_settings(), master_examined()
                                 .server("* 1 FETCH (UID 1 BODY[] {20}\r\nhello)\r\na3 OK done\r\n")
                                 .waits());
    check(master_settings(), master_examined()
                                 .server("* 1 FETCH (UID 1 BODY[] {20}\r\nhello)\r\na3 OK done\r\n"
                                         "a3 OK done\r\n")
                                 .fails("fetch"));
}

TEST(imap_client, input_after_done_or_failed_is_not_consumed) {
    client c(submit_settings());
    std::size_t consumed = 1;
    c.start();
    EXPECT_EQ(c.on_input("* BYE no\r\n* OK x\r\n", consumed), step::failed);
    EXPECT_EQ(consumed, 10U);
    EXPECT_EQ(c.on_input("* OK x\r\n", consumed), step::failed);
    EXPECT_EQ(consumed, 0U);
}

}  // namespace
}  // namespace submitd::imap
