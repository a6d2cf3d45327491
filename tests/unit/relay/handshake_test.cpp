// Scripted dialogs against the relay handshake (STYLE.md §10, after
// Boost.MySQL's test/unit/test/sansio tests): each script lists what the
// relay sends and what submitd must write, in order. A simulated driver runs
// the machine on the relay's bytes and records a transcript (the commands it
// wrote, the TLS handshake, the outcome), which must match the script's for
// the relay's bytes fed whole, split at every offset and byte by byte; then
// the relay's input is cut short at every offset, as a dropped connection
// would, and the machine must be left waiting to read, never done.
#include "relay/handshake.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../smtp/split_feed.hpp"

namespace submitd::relay {
namespace {

std::span<const char> bytes(std::string_view s) {
    return {s.data(), s.size()};
}

const char* stage_name(handshake_stage s) {
    switch (s) {
        case handshake_stage::greeting:
            return "greeting";
        case handshake_stage::ehlo:
            return "ehlo";
        case handshake_stage::starttls:
            return "starttls";
        case handshake_stage::auth:
            return "auth";
        case handshake_stage::xclient:
            return "xclient";
    }
    return "?";
}

/// Transcript entries: "C: <command>" for a write, "TLS", "done",
/// "failed <stage> <code>" (code 0 without a reply) or "waiting" (the
/// machine wants to read, and the relay sent nothing more).
using transcript = std::vector<std::string>;

std::string failed(handshake_stage s, int code = 0) {
    return std::string("failed ") + stage_name(s) + " " + std::to_string(code);
}

/// A dialog in the order it happens. The relay's bytes are grouped in phases
/// at each TLS handshake: splitting across one makes no sense, since after
/// it the bytes arrive through TLS.
class script {
public:
    script& relay(std::string bytes) {
        phases_.back() += bytes;
        return *this;
    }
    script& client(std::string bytes) {
        want_.push_back("C: " + bytes);
        return *this;
    }
    script& tls() {
        want_.emplace_back("TLS");
        phases_.emplace_back();
        return *this;
    }
    script& done() {
        want_.emplace_back("done");
        return *this;
    }
    script& fails(handshake_stage s, int code = 0) {
        want_.push_back(failed(s, code));
        return *this;
    }

    const std::vector<std::string>& phases() const { return phases_; }
    const transcript& want() const { return want_; }

private:
    std::vector<std::string> phases_{std::string()};
    transcript want_;
};

/// Runs `h` as a driver would on the relay's bytes, given as pieces per
/// phase, and returns the transcript. Each call's output is recorded and
/// cleared before the next call; bytes the machine leaves are offered again
/// before the next piece. At a TLS handshake the rest of the phase is
/// dropped (the machine must have consumed everything it was given).
transcript run(handshake& h, const std::vector<test::pieces>& phases) {
    transcript out;
    handshake_step step = h.start();
    std::size_t phase = 0;
    std::size_t piece = 0;
    std::string pending;
    int stalled = 0;
    for (;;) {
        if (!h.output().empty()) {
            out.push_back("C: " + h.output());
            h.clear_output();
            EXPECT_TRUE(h.output().empty());
        }
        if (step == handshake_step::done) {
            out.emplace_back("done");
            return out;
        }
        if (step == handshake_step::failed) {
            const auto& f = h.failure();
            out.push_back(failed(f.stage, f.relay_reply ? f.relay_reply->code : 0));
            EXPECT_FALSE(f.reason.empty());
            return out;
        }
        if (step == handshake_step::start_tls) {
            out.emplace_back("TLS");
            EXPECT_TRUE(pending.empty()) << "bytes left after the 220 to STARTTLS";
            pending.clear();
            if (++phase >= phases.size()) {
                ADD_FAILURE() << "no relay phase after TLS";
                return out;
            }
            piece = 0;
            step = h.on_tls_established();
            continue;
        }
        if (!pending.empty()) {
            // An exactly sized copy, so AddressSanitizer sees reads past the end.
            const std::vector<char> exact(pending.begin(), pending.end());
            std::size_t consumed = 0;
            step = h.on_input(std::span<const char>(exact.data(), exact.size()), consumed);
            if (consumed > exact.size()) {
                ADD_FAILURE() << "consumed " << consumed << " of " << exact.size();
                return out;
            }
            pending.erase(0, consumed);
            if (consumed > 0 || step != handshake_step::read || !h.output().empty()) {
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

struct setup {
    handshake_settings settings;
    std::optional<xclient_facts> facts;
};

/// Runs `s` with every phase whole, then each phase split at every offset
/// and byte by byte (the others whole), and checks the transcript each time.
void check_splits(const setup& base, const script& s) {
    std::vector<test::pieces> whole;
    for (const auto& p : s.phases())
        whole.push_back({p});
    {
        handshake h(base.settings, base.facts);
        EXPECT_EQ(run(h, whole), s.want()) << "whole";
    }
    for (std::size_t i = 0; i < s.phases().size(); ++i) {
        for (const auto& split : test::all_splits(s.phases()[i])) {
            auto phases = whole;
            phases[i] = split.parts;
            handshake h(base.settings, base.facts);
            const transcript got = run(h, phases);
            if (got != s.want()) {
                ADD_FAILURE() << "phase " << i << ", " << split.label << ": got "
                              << ::testing::PrintToString(got) << ", want "
                              << ::testing::PrintToString(s.want());
                return;
            }
        }
    }
}

/// Cuts the relay's bytes at every offset of every phase (the earlier phases
/// whole, nothing after): the machine must be waiting to read, and have
/// written a prefix of the full dialog's commands.
void check_network_errors(const setup& base, const script& s) {
    transcript full;
    for (const auto& e : s.want()) {
        if (e != "done" && !e.starts_with("failed")) full.push_back(e);
    }
    for (std::size_t i = 0; i < s.phases().size(); ++i) {
        const std::string& phase = s.phases()[i];
        for (std::size_t cut = 0; cut < phase.size(); ++cut) {
            std::vector<test::pieces> phases;
            for (std::size_t j = 0; j < i; ++j)
                phases.push_back({s.phases()[j]});
            phases.push_back({std::string_view(phase).substr(0, cut)});
            handshake h(base.settings, base.facts);
            transcript got = run(h, phases);
            ASSERT_FALSE(got.empty());
            ASSERT_EQ(got.back(), "waiting")
                << "phase " << i << " cut at " << cut << ": " << ::testing::PrintToString(got);
            got.pop_back();
            ASSERT_LE(got.size(), full.size());
            EXPECT_TRUE(std::equal(got.begin(), got.end(), full.begin()))
                << "phase " << i << " cut at " << cut << ": " << ::testing::PrintToString(got);
        }
    }
}

void check(const setup& base, const script& s) {
    check_splits(base, s);
    check_network_errors(base, s);
}

// --- the relay's side -------------------------------------------------------

const std::string greeting = "220 mx.relay.test ESMTP Postfix\r\n";
const std::string ehlo = "EHLO submitd.test\r\n";

std::string ehlo_reply(const std::vector<std::string>& keywords) {
    std::string out = "250";
    out += keywords.empty() ? " " : "-";
    out += "mx.relay.test\r\n";
    for (std::size_t i = 0; i < keywords.size(); ++i)
        out += "250" + std::string(i + 1 == keywords.size() ? " " : "-") + keywords[i] + "\r\n";
    return out;
}

setup plain_setup() {
    setup s;
    s.settings.helo_name = "submitd.test";
    return s;
}

// --- plain EHLO --------------------------------------------------------------

TEST(handshake, plain_ehlo) {
    const setup base = plain_setup();
    const std::string caps =
        ehlo_reply({"PIPELINING", "SIZE 10240000", "8BITMIME", "ENHANCEDSTATUSCODES"});
    check(base, script().relay(greeting).client(ehlo).relay(caps).done());

    handshake h(base.settings, base.facts);
    EXPECT_EQ(run(h, {{greeting + caps}}), (transcript{"C: " + ehlo, "done"}));
    EXPECT_EQ(h.greeting_name(), "mx.relay.test");
    EXPECT_TRUE(h.caps().pipelining);
    EXPECT_TRUE(h.caps().eightbitmime);
    EXPECT_EQ(h.caps().size, 10240000U);
}

TEST(handshake, a_multiline_greeting) {
    check(plain_setup(), script()
                             .relay("220-mx.relay.test ESMTP\r\n220 welcome\r\n")
                             .client(ehlo)
                             .relay(ehlo_reply({}))
                             .done());
}

TEST(handshake, done_leaves_later_bytes_alone) {
    handshake h(plain_setup().settings, std::nullopt);
    std::size_t consumed = 0;
    h.start();
    EXPECT_EQ(h.on_input(bytes(greeting), consumed), handshake_step::read);
    EXPECT_EQ(consumed, greeting.size());
    const std::string in = ehlo_reply({"DSN"}) + "250 unsolicited\r\n";
    EXPECT_EQ(h.on_input(bytes(in), consumed), handshake_step::done);
    EXPECT_EQ(consumed, ehlo_reply({"DSN"}).size());
    EXPECT_EQ(h.on_input(bytes(std::string_view(in).substr(consumed)), consumed),
              handshake_step::done);
    EXPECT_EQ(consumed, 0U);
}

TEST(handshake, an_invalid_ehlo_name_fails_at_once) {
    const std::vector<std::string> names = {"", "a b", "a\r\nRSET", std::string("a\0b", 3),
                                            std::string(256, 'a')};
    for (const auto& name : names) {
        setup base = plain_setup();
        base.settings.helo_name = name;
        handshake h(base.settings, std::nullopt);
        EXPECT_EQ(h.start(), handshake_step::failed);
        EXPECT_EQ(h.failure().stage, handshake_stage::ehlo);
        EXPECT_TRUE(h.output().empty());
    }
}

// --- STARTTLS ----------------------------------------------------------------

setup starttls_setup() {
    setup s = plain_setup();
    s.settings.tls = relay_tls::starttls;
    return s;
}

TEST(handshake, starttls) {
    const setup base = starttls_setup();
    const script s = script()
                         .relay(greeting)
                         .client(ehlo)
                         .relay(ehlo_reply({"PIPELINING", "STARTTLS", "SIZE 100"}))
                         .client("STARTTLS\r\n")
                         .relay("220 2.0.0 Ready to start TLS\r\n")
                         .tls()
                         .client(ehlo)
                         .relay(ehlo_reply({"PIPELINING", "AUTH PLAIN", "SIZE 200"}))
                         .done();
    check(base, s);

    handshake h(base.settings, base.facts);
    std::vector<test::pieces> phases;
    for (const auto& p : s.phases())
        phases.push_back({p});
    run(h, phases);
    // The capabilities are those announced under TLS.
    EXPECT_FALSE(h.caps().starttls);
    EXPECT_EQ(h.caps().size, 200U);
    EXPECT_EQ(h.caps().auth_mechanisms, std::vector<std::string>{"PLAIN"});
}

TEST(handshake, starttls_drops_what_follows_the_220) {
    // A man in the middle appends a fake EHLO reply to the plaintext 220: it
    // must not be taken for the reply to the EHLO sent under TLS.
    const setup base = starttls_setup();
    handshake h(base.settings, base.facts);
    std::size_t consumed = 0;
    h.start();
    h.on_input(bytes(greeting), consumed);
    h.clear_output();
    h.on_input(bytes(ehlo_reply({"STARTTLS"})), consumed);
    EXPECT_EQ(h.output(), "STARTTLS\r\n");
    h.clear_output();
    const std::string in = "220 go ahead\r\n" + ehlo_reply({"AUTH PLAIN", "XCLIENT ADDR"});
    EXPECT_EQ(h.on_input(bytes(in), consumed), handshake_step::start_tls);
    EXPECT_EQ(consumed, in.size());
    EXPECT_TRUE(h.output().empty());
    EXPECT_EQ(h.on_tls_established(), handshake_step::read);
    EXPECT_EQ(h.output(), ehlo);
    h.clear_output();
    EXPECT_EQ(h.on_input(bytes(ehlo_reply({"8BITMIME"})), consumed), handshake_step::done);
    EXPECT_TRUE(h.caps().eightbitmime);
    EXPECT_TRUE(h.caps().auth_mechanisms.empty());
    EXPECT_FALSE(h.caps().xclient);

    // The same, split anywhere: the transcript does not change.
    check_splits(base, script()
                           .relay(greeting)
                           .client(ehlo)
                           .relay(ehlo_reply({"STARTTLS"}))
                           .client("STARTTLS\r\n")
                           .relay("220 go ahead\r\n250 fake\r\n")
                           .tls()
                           .client(ehlo)
                           .relay(ehlo_reply({}))
                           .done());
}

TEST(handshake, starttls_not_offered) {
    check(starttls_setup(), script()
                                .relay(greeting)
                                .client(ehlo)
                                .relay(ehlo_reply({"PIPELINING"}))
                                .fails(handshake_stage::starttls));
}

TEST(handshake, starttls_refused) {
    check(starttls_setup(), script()
                                .relay(greeting)
                                .client(ehlo)
                                .relay(ehlo_reply({"STARTTLS"}))
                                .client("STARTTLS\r\n")
                                .relay("454 4.7.0 TLS not available due to local problem\r\n")
                                .fails(handshake_stage::starttls, 454));
}

TEST(handshake, implicit_tls_sends_no_starttls) {
    setup base = plain_setup();
    base.settings.tls = relay_tls::implicit;
    check(base, script().relay(greeting).client(ehlo).relay(ehlo_reply({"STARTTLS"})).done());
}

// --- AUTH PLAIN --------------------------------------------------------------

core::secret_string relay_password(std::string_view("s3cret"));

setup auth_setup() {
    setup s = plain_setup();
    s.settings.auth_user = "relayuser";
    s.settings.auth_password = &relay_password;
    return s;
}

TEST(handshake, auth_plain) {
    // base64("\0relayuser\0s3cret")
    check(auth_setup(), script()
                            .relay(greeting)
                            .client(ehlo)
                            .relay(ehlo_reply({"AUTH LOGIN PLAIN"}))
                            .client("AUTH PLAIN AHJlbGF5dXNlcgBzM2NyZXQ=\r\n")
                            .relay("235 2.7.0 Authentication successful\r\n")
                            .done());
    EXPECT_EQ(relay_password.view(), "s3cret");  // read, not consumed
}

TEST(handshake, auth_plain_as_a_master_user) {
    setup base = auth_setup();
    base.settings.auth_user = "master";
    base.settings.auth_authzid = "alice@example.org";
    // base64("alice@example.org\0master\0s3cret"); the old AUTH= form is enough.
    check(base, script()
                    .relay(greeting)
                    .client(ehlo)
                    .relay(ehlo_reply({"AUTH=PLAIN"}))
                    .client("AUTH PLAIN YWxpY2VAZXhhbXBsZS5vcmcAbWFzdGVyAHMzY3JldA==\r\n")
                    .relay("235 2.7.0 ok\r\n")
                    .done());
}

TEST(handshake, auth_line_is_wiped_once_answered) {
    handshake h(auth_setup().settings, std::nullopt);
    std::size_t consumed = 0;
    h.start();
    h.on_input(bytes(greeting), consumed);
    h.clear_output();
    h.on_input(bytes(ehlo_reply({"AUTH PLAIN"})), consumed);
    ASSERT_TRUE(h.output().starts_with("AUTH PLAIN "));
    // A driver that writes the line but forgets clear_output(): the next call
    // wipes it before anything else.
    const char* data = h.output().data();
    const std::size_t size = h.output().size();
    EXPECT_EQ(h.on_input(bytes("235 2.7.0 ok\r\n"), consumed), handshake_step::done);
    EXPECT_TRUE(h.output().empty());
    EXPECT_EQ(h.output().data(), data);  // the same buffer, now zeroed
    EXPECT_EQ(std::string_view(data, size), std::string(size, '\0'));
}

TEST(handshake, auth_not_offered) {
    check(auth_setup(), script()
                            .relay(greeting)
                            .client(ehlo)
                            .relay(ehlo_reply({"AUTH LOGIN CRAM-MD5"}))
                            .fails(handshake_stage::auth));
    check(auth_setup(),
          script().relay(greeting).client(ehlo).relay(ehlo_reply({})).fails(handshake_stage::auth));
}

TEST(handshake, auth_refused) {
    check(auth_setup(), script()
                            .relay(greeting)
                            .client(ehlo)
                            .relay(ehlo_reply({"AUTH PLAIN"}))
                            .client("AUTH PLAIN AHJlbGF5dXNlcgBzM2NyZXQ=\r\n")
                            .relay("535 5.7.8 Error: authentication failed\r\n")
                            .fails(handshake_stage::auth, 535));
}

TEST(handshake, auth_without_a_usable_password) {
    core::secret_string empty;
    core::secret_string nul(std::string("a\0b", 3));
    for (core::secret_string* password :
         {static_cast<core::secret_string*>(nullptr), &empty, &nul}) {
        setup base = auth_setup();
        base.settings.auth_password = password;
        check(base, script()
                        .relay(greeting)
                        .client(ehlo)
                        .relay(ehlo_reply({"AUTH PLAIN"}))
                        .fails(handshake_stage::auth));
    }
}

// --- XCLIENT -----------------------------------------------------------------

setup xclient_setup(xclient_facts facts) {
    setup s = plain_setup();
    s.settings.use_xclient = true;
    s.facts = std::move(facts);
    return s;
}

xclient_facts ipv4_facts() {
    xclient_facts f;
    f.addr = "192.0.2.1";
    f.port = "50123";
    f.helo = "client.example";
    f.login = "alice@example.org";
    f.destaddr = "198.51.100.7";
    f.destport = "587";
    return f;
}

TEST(handshake, xclient_ipv4_with_only_the_announced_attributes) {
    check(xclient_setup(ipv4_facts()),
          script()
              .relay(greeting)
              .client(ehlo)
              .relay(ehlo_reply({"PIPELINING", "XCLIENT NAME ADDR PROTO HELO"}))
              .client("XCLIENT HELO=client.example PROTO=ESMTP ADDR=192.0.2.1\r\n")
              .relay("220 mx.relay.test ESMTP Postfix\r\n")
              .client(ehlo)
              .relay(ehlo_reply({"PIPELINING", "XCLIENT NAME ADDR PROTO HELO"}))
              .done());
}

TEST(handshake, xclient_ipv6_all_attributes_xtext_and_unavailable) {
    xclient_facts f;
    f.addr = "2001:db8::2";
    f.port = "50123";
    f.helo = "[IPv6:2001:db8::2]";
    f.login = "bob+tag=x@example.org";
    f.destaddr = "[2001:db8::1]";
    f.destport = "";
    const std::string caps = ehlo_reply(
        {"XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT", "8BITMIME"});
    check(xclient_setup(f), script()
                                .relay(greeting)
                                .client(ehlo)
                                .relay(caps)
                                .client("XCLIENT HELO=[IPv6:2001:db8::2] PROTO=ESMTP "
                                        "LOGIN=bob+2Btag+3Dx@example.org "
                                        "DESTADDR=IPV6:2001:db8::1 DESTPORT=[UNAVAILABLE] "
                                        "PORT=50123 ADDR=IPV6:2001:db8::2\r\n")
                                .relay("220 mx.relay.test ESMTP Postfix\r\n")
                                .client(ehlo)
                                .relay(caps)
                                .done());
}

TEST(handshake, xclient_login_unavailable_and_8bit_values) {
    xclient_facts f = ipv4_facts();
    f.login = "";
    f.helo = "h\xc3\xa9 llo";
    check(xclient_setup(f), script()
                                .relay(greeting)
                                .client(ehlo)
                                .relay(ehlo_reply({"XCLIENT LOGIN HELO"}))
                                .client("XCLIENT HELO=h+C3+A9+20llo LOGIN=[UNAVAILABLE]\r\n")
                                .relay("220 again\r\n")
                                .client(ehlo)
                                .relay(ehlo_reply({}))
                                .done());
}

TEST(handshake, xclient_over_512_bytes_is_split_with_addr_last) {
    xclient_facts f = ipv4_facts();
    f.helo = std::string(250, 'h');
    f.login = std::string(250, 'l');
    const std::string caps = ehlo_reply({"XCLIENT ADDR HELO LOGIN"});
    const std::string first = "XCLIENT HELO=" + f.helo + "\r\n";
    const std::string second = "XCLIENT LOGIN=" + f.login + " ADDR=192.0.2.1\r\n";
    check(xclient_setup(f), script()
                                .relay(greeting)
                                .client(ehlo)
                                .relay(caps)
                                .client(first)
                                .relay("220 mx.relay.test\r\n")
                                .client(second)
                                .relay("220 mx.relay.test\r\n")
                                .client(ehlo)
                                .relay(caps)
                                .done());
    // A value too long for any line goes as [UNAVAILABLE].
    f.helo = std::string(200, ' ');  // 600 bytes as xtext
    check(xclient_setup(f),
          script()
              .relay(greeting)
              .client(ehlo)
              .relay(caps)
              .client("XCLIENT HELO=[UNAVAILABLE] LOGIN=" + f.login + " ADDR=192.0.2.1\r\n")
              .relay("220 ok\r\n")
              .client(ehlo)
              .relay(caps)
              .done());
}

TEST(handshake, xclient_not_offered) {
    check(xclient_setup(ipv4_facts()), script()
                                           .relay(greeting)
                                           .client(ehlo)
                                           .relay(ehlo_reply({"PIPELINING"}))
                                           .fails(handshake_stage::xclient));
    // Offered, but with none of the attributes we send.
    check(xclient_setup(ipv4_facts()), script()
                                           .relay(greeting)
                                           .client(ehlo)
                                           .relay(ehlo_reply({"XCLIENT NAME REVERSE_NAME"}))
                                           .fails(handshake_stage::xclient));
}

TEST(handshake, xclient_refused) {
    check(xclient_setup(ipv4_facts()), script()
                                           .relay(greeting)
                                           .client(ehlo)
                                           .relay(ehlo_reply({"XCLIENT ADDR"}))
                                           .client("XCLIENT ADDR=192.0.2.1\r\n")
                                           .relay("550 5.7.0 Error: insufficient authorization\r\n")
                                           .fails(handshake_stage::xclient, 550));
}

TEST(handshake, xclient_needs_the_facts) {
    // A capability probe has no client: XCLIENT is not attempted.
    setup base = xclient_setup(ipv4_facts());
    base.facts.reset();
    check(base, script().relay(greeting).client(ehlo).relay(ehlo_reply({"XCLIENT ADDR"})).done());
}

// --- everything at once, and failures at each stage -------------------------

setup full_setup() {
    setup s = auth_setup();
    s.settings.tls = relay_tls::starttls;
    s.settings.use_xclient = true;
    s.facts = ipv4_facts();
    return s;
}

const std::string auth_line = "AUTH PLAIN AHJlbGF5dXNlcgBzM2NyZXQ=\r\n";
const std::string xclient_line =
    "XCLIENT HELO=client.example PROTO=ESMTP LOGIN=alice@example.org PORT=50123 "
    "ADDR=192.0.2.1\r\n";

TEST(handshake, starttls_auth_and_xclient) {
    check(full_setup(), script()
                            .relay(greeting)
                            .client(ehlo)
                            .relay(ehlo_reply({"PIPELINING", "STARTTLS"}))
                            .client("STARTTLS\r\n")
                            .relay("220 2.0.0 Ready to start TLS\r\n")
                            .tls()
                            .client(ehlo)
                            .relay(ehlo_reply({"AUTH PLAIN", "XCLIENT ADDR PORT HELO LOGIN PROTO"}))
                            .client(auth_line)
                            .relay("235 2.7.0 Authentication successful\r\n")
                            .client(xclient_line)
                            .relay("220 mx.relay.test ESMTP Postfix\r\n")
                            .client(ehlo)
                            .relay(ehlo_reply({"PIPELINING", "CHUNKING", "SIZE 1000"}))
                            .done());
}

TEST(handshake, failures_at_each_stage) {
    const std::string tls_caps = ehlo_reply({"AUTH PLAIN", "XCLIENT ADDR PORT HELO LOGIN PROTO"});
    // The full dialog up to each point, then the relay's refusal there.
    const auto upto = [&](int n) {
        script s;
        if (n == 0) return s;
        s.relay(greeting).client(ehlo);
        if (n == 1) return s;
        s.relay(ehlo_reply({"STARTTLS"})).client("STARTTLS\r\n");
        if (n == 2) return s;
        s.relay("220 go\r\n").tls().client(ehlo);
        if (n == 3) return s;
        s.relay(tls_caps).client(auth_line);
        if (n == 4) return s;
        s.relay("235 ok\r\n").client(xclient_line);
        if (n == 5) return s;
        s.relay("220 again\r\n").client(ehlo);
        return s;
    };
    const setup base = full_setup();
    check(base,
          script().relay("554 5.7.1 no service for you\r\n").fails(handshake_stage::greeting, 554));
    check(base, upto(1).relay("500 5.5.1 what?\r\n").fails(handshake_stage::ehlo, 500));
    check(base, upto(1).relay("220 not an EHLO reply\r\n").fails(handshake_stage::ehlo, 220));
    check(base, upto(2).relay("454 4.7.0 no TLS\r\n").fails(handshake_stage::starttls, 454));
    check(base, upto(3).relay("502 5.5.2 no\r\n").fails(handshake_stage::ehlo, 502));
    check(base, upto(4).relay("535 5.7.8 no\r\n").fails(handshake_stage::auth, 535));
    check(base, upto(4).relay("334 \r\n").fails(handshake_stage::auth, 334));
    check(base, upto(5).relay("550 5.7.0 no\r\n").fails(handshake_stage::xclient, 550));
    check(base, upto(5).relay("250 old Postfix\r\n").fails(handshake_stage::xclient, 250));
    check(base, upto(6).relay("554 5.7.1 access denied\r\n").fails(handshake_stage::ehlo, 554));

    // A 421 at every point, and a malformed reply at every point.
    const handshake_stage stages[] = {
        handshake_stage::greeting, handshake_stage::ehlo, handshake_stage::starttls,
        handshake_stage::ehlo,     handshake_stage::auth, handshake_stage::xclient,
        handshake_stage::ehlo,
    };
    for (int n = 0; n <= 6; ++n) {
        SCOPED_TRACE(n);
        check(
            base,
            upto(n).relay("421-4.3.2 Service shutting down\r\n421 bye\r\n").fails(stages[n], 421));
        check(base, upto(n).relay("250-ok\r\n251 mixed\r\n").fails(stages[n]));
        check(base, upto(n).relay("HTTP/1.1 400 Bad Request\r\n").fails(stages[n]));
    }
}

TEST(handshake, a_failure_says_why) {
    handshake h(full_setup().settings, ipv4_facts());
    std::size_t consumed = 0;
    h.start();
    EXPECT_EQ(h.on_input(bytes("220 x\r\n"), consumed), handshake_step::read);
    h.clear_output();
    EXPECT_EQ(h.on_input(bytes("250-x\r\n250 SIZE 1\r\n"), consumed), handshake_step::failed);
    EXPECT_EQ(h.failure().stage, handshake_stage::starttls);
    EXPECT_FALSE(h.failure().relay_reply.has_value());
    EXPECT_EQ(h.failure().reason, "the relay does not offer STARTTLS");
    EXPECT_TRUE(h.output().empty());
    EXPECT_EQ(h.on_input(bytes("250 more\r\n"), consumed), handshake_step::failed);
    EXPECT_EQ(consumed, 0U);

    handshake g(plain_setup().settings, std::nullopt);
    g.start();
    EXPECT_EQ(g.on_input(bytes("220 x\r\n250 y\r\n"), consumed), handshake_step::read);
    g.clear_output();
    EXPECT_EQ(g.on_input(bytes("2"), consumed), handshake_step::read);
    EXPECT_EQ(g.on_input(bytes("50-y\r\n2x0 z\r\n"), consumed), handshake_step::failed);
    EXPECT_EQ(g.failure().stage, handshake_stage::ehlo);
    EXPECT_EQ(g.failure().reason, "malformed reply from the relay: malformed reply code");
    const std::string text = g.failure().relay_reply ? g.failure().relay_reply->text() : "";
    EXPECT_EQ(text, "");

    handshake k(plain_setup().settings, std::nullopt);
    k.start();
    EXPECT_EQ(k.on_input(bytes("554 5.3.2 go away\r\n"), consumed), handshake_step::failed);
    ASSERT_TRUE(k.failure().relay_reply.has_value());
    EXPECT_EQ(k.failure().relay_reply->enhanced, "5.3.2");
    EXPECT_EQ(k.failure().relay_reply->text(), "go away");
}

TEST(handshake, replies_sent_ahead_are_taken_in_order) {
    // A relay that answers before it is asked: each reply still answers the
    // next command, one per call (the driver writes in between).
    handshake h(auth_setup().settings, std::nullopt);
    std::size_t consumed = 0;
    h.start();
    std::string in = greeting + ehlo_reply({"AUTH PLAIN"}) + "235 ok\r\n";
    EXPECT_EQ(h.on_input(bytes(in), consumed), handshake_step::read);
    EXPECT_EQ(h.output(), ehlo);
    in.erase(0, consumed);
    EXPECT_EQ(h.on_input(bytes(in), consumed), handshake_step::read);
    EXPECT_EQ(h.output(), auth_line);
    in.erase(0, consumed);
    EXPECT_EQ(h.on_input(bytes(in), consumed), handshake_step::done);
    EXPECT_EQ(consumed, in.size());
}

}  // namespace
}  // namespace submitd::relay
