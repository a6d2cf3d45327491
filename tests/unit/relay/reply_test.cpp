// Tests for relay/reply: a table of valid and invalid relay replies, each fed
// whole, split at every offset and byte by byte (split_feed.hpp), with the
// parsed code, enhanced code and lines or the error expected; the consumed
// counts, the failed state until reset(), reply::text() and parse_ehlo().
#include "relay/reply.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "../smtp/split_feed.hpp"

namespace submitd::relay {
namespace {

using namespace std::string_literals;

std::span<const char> bytes(std::string_view s) {
    return {s.data(), s.size()};
}

/// What the parser reports: a complete reply, or bad_reply with its error.
struct event {
    int code = 0;
    std::string enhanced;
    std::vector<std::string> lines;
    std::string error;  // set for bad_reply

    bool operator==(const event&) const = default;
    friend std::ostream& operator<<(std::ostream& os, const event& e) {
        if (!e.error.empty()) return os << "<bad: " << e.error << ">";
        os << e.code << " [" << e.enhanced << "]";
        for (const auto& l : e.lines)
            os << " \"" << l << '"';
        return os;
    }
};

using events = std::vector<event>;

event rep(int code, std::string enhanced, std::vector<std::string> lines) {
    return {code, std::move(enhanced), std::move(lines), {}};
}
event bad(std::string why) {
    return {0, {}, {}, std::move(why)};
}

/// A `run` for expect_same_for_all_splits(): a fresh parser with the given
/// limits, driven as a driver would; after bad_reply it must stay failed.
auto run_parser(std::size_t max_line = 4096, std::size_t max_lines = 256) {
    return [max_line, max_lines](const test::pieces& parts) {
        reply_parser parser(max_line, max_lines);
        events out;
        bool failed = false;
        test::drive(parts, [&](std::span<const char> in) -> test::progress {
            const reply_result r = parser.parse(in);
            if (failed) {
                EXPECT_EQ(r.status, reply_status::bad_reply);
                EXPECT_EQ(r.consumed, 0U);
                return {0, false};
            }
            switch (r.status) {
                case reply_status::need_more:
                    EXPECT_EQ(r.consumed, in.size());
                    return {r.consumed, false};
                case reply_status::complete: {
                    reply got = parser.take();
                    out.push_back(rep(got.code, got.enhanced, got.lines));
                    return {r.consumed, true};
                }
                case reply_status::bad_reply:
                    failed = true;
                    out.push_back(bad(parser.error()));
                    return {r.consumed, false};
            }
            return {0, false};
        });
        return out;
    };
}

struct valid_case {
    std::string input;
    events want;
};

TEST(reply_parser, valid_replies_in_every_split) {
    const std::vector<valid_case> cases = {
        {"220 mx.test ESMTP Postfix\r\n", {rep(220, "", {"mx.test ESMTP Postfix"})}},
        {"250-mx.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
         {rep(250, "", {"mx.test", "PIPELINING", "8BITMIME"})}},
        {"250 2.0.0 Ok\r\n", {rep(250, "2.0.0", {"2.0.0 Ok"})}},
        {"550-5.1.1 No such user\r\n550 5.1.1 here\r\n",
         {rep(550, "5.1.1", {"5.1.1 No such user", "5.1.1 here"})}},
        // The code alone, or with an empty text.
        {"250\r\n", {rep(250, "", {""})}},
        {"250 \r\n", {rep(250, "", {""})}},
        {"250-\r\n250\r\n", {rep(250, "", {"", ""})}},
        // A bare LF ends a line too, mixed with CRLF.
        {"250-a\n250-b\r\n250 c\n", {rep(250, "", {"a", "b", "c"})}},
        // Enhanced codes: 1 to 3 digits per part, the class of the reply,
        // then a space or the end of the line; only the first line's counts.
        {"250 2.10.100 x\r\n", {rep(250, "2.10.100", {"2.10.100 x"})}},
        {"451 4.4.1\r\n", {rep(451, "4.4.1", {"4.4.1"})}},
        {"250 5.0.0 x\r\n", {rep(250, "", {"5.0.0 x"})}},
        {"250 2.1000.0 x\r\n", {rep(250, "", {"2.1000.0 x"})}},
        {"250 2.0.0x\r\n", {rep(250, "", {"2.0.0x"})}},
        {"250 2.0 x\r\n", {rep(250, "", {"2.0 x"})}},
        {"250 2..0 x\r\n", {rep(250, "", {"2..0 x"})}},
        {"250-first\r\n250 2.0.0 second\r\n", {rep(250, "", {"first", "2.0.0 second"})}},
        // 8-bit text (SMTPUTF8) and HTAB are text.
        {"250 caf\xc3\xa9\tok\r\n", {rep(250, "", {"caf\xc3\xa9\tok"})}},
        // Every code from 200 to 599 with any second digit.
        {"200 a\r\n599 b\r\n270 c\r\n",
         {rep(200, "", {"a"}), rep(599, "", {"b"}), rep(270, "", {"c"})}},
        // Two replies in a row, and a partial third that never completes.
        {"354 go\r\n250 ok\r\n421 4.3", {rep(354, "", {"go"}), rep(250, "", {"ok"})}},
        // A good reply, then a bad one.
        {"250 ok\r\n25O bad\r\n", {rep(250, "", {"ok"}), bad("malformed reply code")}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.input);
        test::expect_same_for_all_splits(c.input, c.want, run_parser());
    }
}

struct invalid_case {
    std::string input;
    std::string error;
};

TEST(reply_parser, invalid_replies_in_every_split) {
    const std::vector<invalid_case> cases = {
        {"2x0 ok\r\n", "malformed reply code"},
        {"150 ok\r\n", "malformed reply code"},
        {"650 ok\r\n", "malformed reply code"},
        {"050 ok\r\n", "malformed reply code"},
        {"25\r\n", "malformed reply code"},
        {"\r\n", "malformed reply code"},
        {"\n", "malformed reply code"},
        {"ok\r\n", "malformed reply code"},
        {"250_ok\r\n", "malformed reply line"},
        {"2500 ok\r\n", "malformed reply line"},
        {"250-a\r\n\r\n", "malformed reply code"},
        {"250-a\r\n251 b\r\n", "reply lines with different codes"},
        {"250-a\r\n550 b\r\n", "reply lines with different codes"},
        {"250 a\0b\r\n"s, "control byte in reply"},
        {"250 a\rb\r\n", "control byte in reply"},
        {"250 a\r\r\n", "control byte in reply"},
        {"250 a\x1b[1m\r\n", "control byte in reply"},
        {"250 a\x7f\r\n", "control byte in reply"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.input);
        test::expect_same_for_all_splits(c.input, events{bad(c.error)}, run_parser());
    }
}

TEST(reply_parser, line_limit_in_every_split) {
    // max_line 10 counts the line without its CR LF.
    const std::string ten = "250 678901";
    test::expect_same_for_all_splits(ten + "\r\n", events{rep(250, "", {"678901"})},
                                     run_parser(10));
    test::expect_same_for_all_splits(ten + "\n", events{rep(250, "", {"678901"})}, run_parser(10));
    const event too_long = bad("reply line longer than 10");
    test::expect_same_for_all_splits(ten + "2\r\n", events{too_long}, run_parser(10));
    test::expect_same_for_all_splits(ten + "2\n", events{too_long}, run_parser(10));
    // Reported as soon as the line passes the limit, before any LF arrives.
    test::expect_same_for_all_splits(ten + "23", events{too_long}, run_parser(10));
    test::expect_same_for_all_splits("250-a\r\n" + ten + "2345678", events{too_long},
                                     run_parser(10));
}

TEST(reply_parser, lines_limit_in_every_split) {
    test::expect_same_for_all_splits("250-a\r\n250-b\r\n250 c\r\n",
                                     events{rep(250, "", {"a", "b", "c"})}, run_parser(100, 3));
    test::expect_same_for_all_splits("250-a\r\n250-b\r\n250-c\r\n250 d\r\n",
                                     events{bad("reply longer than 3 lines")}, run_parser(100, 3));
}

TEST(reply_parser, a_partial_line_is_bounded) {
    // A relay that never sends LF cannot make the parser buffer more than the limit.
    reply_parser parser(10, 10);
    const std::string junk(11, 'x');
    EXPECT_EQ(parser.parse(bytes(junk)).status, reply_status::need_more);
    EXPECT_EQ(parser.parse(bytes("x")).status, reply_status::bad_reply);
}

TEST(reply_parser, consumes_up_to_the_end_of_one_reply) {
    reply_parser parser;
    const std::string_view in = "250-a\r\n250 b\r\n354 c\r\n";
    reply_result r = parser.parse(bytes(in));
    EXPECT_EQ(r.status, reply_status::complete);
    EXPECT_EQ(r.consumed, 14U);
    EXPECT_EQ(parser.take().lines, (std::vector<std::string>{"a", "b"}));
    r = parser.parse(bytes(in.substr(14)));
    EXPECT_EQ(r.status, reply_status::complete);
    EXPECT_EQ(r.consumed, 7U);
    EXPECT_EQ(parser.take().code, 354);
    r = parser.parse({});
    EXPECT_EQ(r.status, reply_status::need_more);
    EXPECT_EQ(r.consumed, 0U);
}

TEST(reply_parser, a_new_reply_starts_even_without_take) {
    reply_parser parser;
    EXPECT_EQ(parser.parse(bytes("250 a\r\n")).status, reply_status::complete);
    EXPECT_EQ(parser.parse(bytes("354 b\r\n")).status, reply_status::complete);
    const reply r = parser.take();
    EXPECT_EQ(r.code, 354);
    EXPECT_EQ(r.lines, std::vector<std::string>{"b"});
}

TEST(reply_parser, stays_failed_until_reset) {
    reply_parser parser;
    reply_result r = parser.parse(bytes("250-a\r\n251 b\r\n250 c\r\n"));
    EXPECT_EQ(r.status, reply_status::bad_reply);
    EXPECT_EQ(r.consumed, 14U);
    EXPECT_EQ(parser.error(), "reply lines with different codes");
    r = parser.parse(bytes("250 ok\r\n"));
    EXPECT_EQ(r.status, reply_status::bad_reply);
    EXPECT_EQ(r.consumed, 0U);
    parser.reset();
    EXPECT_TRUE(parser.error().empty());
    r = parser.parse(bytes("250 ok\r\n"));
    EXPECT_EQ(r.status, reply_status::complete);
    EXPECT_EQ(parser.take().lines, std::vector<std::string>{"ok"});
}

TEST(reply_parser, reset_forgets_a_partial_reply) {
    reply_parser parser;
    EXPECT_EQ(parser.parse(bytes("250-a\r\n250 b")).status, reply_status::need_more);
    parser.reset();
    EXPECT_EQ(parser.parse(bytes("220 c\r\n")).status, reply_status::complete);
    const reply r = parser.take();
    EXPECT_EQ(r.code, 220);
    EXPECT_EQ(r.lines, std::vector<std::string>{"c"});
}

TEST(reply, text_strips_enhanced_codes_and_joins_lines) {
    struct text_case {
        reply r;
        std::string want;
    };
    const std::vector<text_case> cases = {
        {{250, "2.0.0", {"2.0.0 Ok"}}, "Ok"},
        {{550, "5.1.1", {"5.1.1 No such", "5.1.1 user here"}}, "No such; user here"},
        {{250, "", {"mx.test", "PIPELINING"}}, "mx.test; PIPELINING"},
        // Only a code of the reply's class is a code; the others are text.
        {{250, "", {"5.0.0 odd"}}, "5.0.0 odd"},
        {{451, "4.3.0", {"4.3.0  two spaces", "no code", "4.3.0"}}, "two spaces; no code"},
        {{250, "", {""}}, ""},
        {{250, "", {}}, ""},
        {{250, "", {"2.0.0x"}}, "2.0.0x"},
    };
    for (const auto& c : cases)
        EXPECT_EQ(c.r.text(), c.want);
}

TEST(reply, positive_and_transient) {
    EXPECT_TRUE((reply{250, "", {}}).positive());
    EXPECT_TRUE((reply{354, "", {}}).positive());
    EXPECT_FALSE((reply{450, "", {}}).positive());
    EXPECT_TRUE((reply{450, "", {}}).transient());
    EXPECT_FALSE((reply{550, "", {}}).transient());
}

reply ehlo(std::vector<std::string> lines) {
    return {250, "", std::move(lines)};
}

TEST(parse_ehlo, a_postfix_reply) {
    const capabilities c = parse_ehlo(ehlo({
        "mx.test",
        "PIPELINING",
        "SIZE 10240000",
        "VRFY",
        "ETRN",
        "STARTTLS",
        "AUTH PLAIN LOGIN",
        "AUTH=PLAIN LOGIN",
        "ENHANCEDSTATUSCODES",
        "8BITMIME",
        "DSN",
        "SMTPUTF8",
        "CHUNKING",
        "XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT",
    }));
    EXPECT_TRUE(c.pipelining);
    EXPECT_EQ(c.size, 10240000U);
    EXPECT_TRUE(c.vrfy);
    EXPECT_TRUE(c.starttls);
    EXPECT_EQ(c.auth_mechanisms, (std::vector<std::string>{"PLAIN", "LOGIN"}));
    EXPECT_TRUE(c.enhancedstatuscodes);
    EXPECT_TRUE(c.eightbitmime);
    EXPECT_TRUE(c.dsn);
    EXPECT_TRUE(c.smtputf8);
    EXPECT_TRUE(c.chunking);
    EXPECT_FALSE(c.binarymime);
    EXPECT_TRUE(c.xclient);
    EXPECT_EQ(c.xclient_attributes,
              (std::vector<std::string>{"NAME", "ADDR", "PROTO", "HELO", "REVERSE_NAME", "PORT",
                                        "LOGIN", "DESTADDR", "DESTPORT"}));
}

TEST(parse_ehlo, keywords_are_case_insensitive) {
    const capabilities c = parse_ehlo(ehlo({
        "mx.test",
        "pipelining",
        "Size 100",
        "auth=cram-md5 Plain",
        "auth login plain",
        "xclient addr Helo",
        "binarymime",
        "  chunking  ",
        "starttls\tnow",
    }));
    EXPECT_TRUE(c.pipelining);
    EXPECT_EQ(c.size, 100U);
    EXPECT_EQ(c.auth_mechanisms, (std::vector<std::string>{"CRAM-MD5", "PLAIN", "LOGIN"}));
    EXPECT_EQ(c.xclient_attributes, (std::vector<std::string>{"ADDR", "HELO"}));
    EXPECT_TRUE(c.binarymime);
    EXPECT_TRUE(c.chunking);
    EXPECT_TRUE(c.starttls);
}

TEST(parse_ehlo, the_first_line_is_the_name) {
    const capabilities c = parse_ehlo(ehlo({"PIPELINING STARTTLS", "8BITMIME"}));
    EXPECT_FALSE(c.pipelining);
    EXPECT_FALSE(c.starttls);
    EXPECT_TRUE(c.eightbitmime);
    const capabilities none = parse_ehlo(ehlo({"mx.test"}));
    EXPECT_FALSE(none.size.has_value());
    EXPECT_TRUE(none.auth_mechanisms.empty());
    EXPECT_FALSE(none.xclient);
}

TEST(parse_ehlo, size) {
    struct size_case {
        std::string line;
        std::optional<std::uint64_t> want;
    };
    const std::vector<size_case> cases = {
        {"SIZE", 0},
        {"SIZE 0", 0},
        {"SIZE 52428800", 52428800},
        {"SIZE 18446744073709551615", UINT64_MAX},
        {"SIZE 18446744073709551616", std::nullopt},
        {"SIZE -1", std::nullopt},
        {"SIZE 10k", std::nullopt},
        {"SIZEX 10", std::nullopt},
    };
    for (const auto& c : cases)
        EXPECT_EQ(parse_ehlo(ehlo({"mx.test", c.line})).size, c.want) << c.line;
}

TEST(parse_ehlo, auth_and_xclient_without_arguments) {
    const capabilities c = parse_ehlo(ehlo({"mx.test", "AUTH", "AUTH=", "XCLIENT", "UNKNOWN x"}));
    EXPECT_TRUE(c.auth_mechanisms.empty());
    EXPECT_TRUE(c.xclient);
    EXPECT_TRUE(c.xclient_attributes.empty());
}

}  // namespace
}  // namespace submitd::relay
