// Tests for smtp/line_reader: line splitting with a limit, fed in every split
// (split_feed.hpp), the consumed counts of single calls, reset(), and the
// command-line splitting of parse_command().
#include "smtp/line_reader.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "split_feed.hpp"

namespace submitd::smtp {
namespace {

using test::bytes;
using test::escape;

using namespace std::string_literals;

/// What a line reader reports: a complete line or an overlong one.
struct event {
    bool too_long = false;
    std::string line;

    bool operator==(const event&) const = default;
    friend std::ostream& operator<<(std::ostream& os, const event& e) {
        return e.too_long ? os << "<too long>" : os << '"' << escape(e.line) << '"';
    }
};

event line(std::string s) {
    return {false, std::move(s)};
}
const event too_long{true, {}};

using events = std::vector<event>;

/// A `run` for expect_same_for_all_splits(): a fresh reader with `max_line`,
/// driven as a session would, checking the buffer bound on every call.
auto run_reader(std::size_t max_line) {
    return [max_line](const test::pieces& parts) {
        line_reader reader(max_line);
        events out;
        test::drive(parts, [&](std::span<const char> in) {
            const line_result r = reader.parse(in);
            EXPECT_LE(reader.buffered(), max_line + 1);
            switch (r.status) {
                case line_status::need_more:
                    EXPECT_EQ(r.consumed, in.size());
                    break;
                case line_status::complete:
                    EXPECT_LE(reader.line().size(), max_line);
                    out.push_back(line(std::string(reader.line())));
                    break;
                case line_status::line_too_long:
                    out.push_back(too_long);
                    break;
            }
            return test::progress{r.consumed, r.status != line_status::need_more};
        });
        return out;
    };
}

struct line_case {
    const char* name;
    std::size_t max_line;
    std::string input;
    events want;
};

// Most cases use a limit of 8 so that "at the limit" and "one over" stay
// readable: "12345678" is exactly at it, "123456789" one over.
const std::vector<line_case> line_cases = {
    {"nothing", 8, "", {}},
    {"empty line CRLF", 8, "\r\n", {line("")}},
    {"empty line bare LF", 8, "\n", {line("")}},
    {"several empty lines", 8, "\n\r\n\n", {line(""), line(""), line("")}},
    {"one command", 8, "NOOP\r\n", {line("NOOP")}},
    {"pipelined", 8, "NOOP\r\nRSET\r\nQUIT\r\n", {line("NOOP"), line("RSET"), line("QUIT")}},
    {"bare LF ends a line", 8, "NOOP\nQUIT\n", {line("NOOP"), line("QUIT")}},
    {"mixed endings", 8, "A\nB\r\nC\n", {line("A"), line("B"), line("C")}},
    {"partial line is held", 8, "QUIT\r\nNOO", {line("QUIT")}},
    {"CR without LF is held", 8, "NOOP\r", {}},
    {"CR inside a line is kept", 8, "a\rb\r\n", {line("a\rb")}},
    {"only the last CR is removed", 8, "abc\r\r\n", {line("abc\r")}},
    {"lone CR line", 8, "\r\r\n", {line("\r")}},
    {"CR LF CR LF", 8, "\r\n\r\n", {line(""), line("")}},
    {"NUL bytes are data", 8, "a\0b\r\n\0\n"s, {line("a\0b"s), line("\0"s)}},
    {"8-bit bytes are data", 8, "\xc3\xa9\xff\r\n", {line("\xc3\xa9\xff")}},
    {"at the limit, CRLF", 8, "12345678\r\n", {line("12345678")}},
    {"at the limit, LF", 8, "12345678\n", {line("12345678")}},
    {"at the limit, pipelined",
     8,
     "12345678\r\n87654321\r\n",
     {line("12345678"), line("87654321")}},
    {"at the limit with inner CR", 8, "1234567\r\r\n", {line("1234567\r")}},
    {"one over, CRLF", 8, "123456789\r\n", {too_long}},
    {"one over, LF", 8, "123456789\n", {too_long}},
    {"one over, CR at the limit then CR", 8, "12345678\r\r\n", {too_long}},
    {"one over, CR at the limit then a byte", 8, "12345678\rx\n", {too_long}},
    {"one over, CR at the limit then more CRs", 8, "12345678\r\r\r\r\n", {too_long}},
    {"over, no LF at all", 8, "123456789", {too_long}},
    {"CR at the limit, no LF yet", 8, "12345678\r", {}},
    {"far over, reported once", 8, std::string(1000, 'x'), {too_long}},
    {"far over, then a line", 8, std::string(1000, 'x') + "\r\nQUIT\r\n", {too_long, line("QUIT")}},
    {"too long then pipelined commands",
     8,
     "0123456789abcdef\r\nNOOP\r\nRSET\r\nQUIT\r\n",
     {too_long, line("NOOP"), line("RSET"), line("QUIT")}},
    {"too long then an empty line", 8, "123456789\n\n", {too_long, line("")}},
    {"two too long in a row", 8, "123456789\r\n123456789\r\n", {too_long, too_long}},
    {"too long between lines",
     8,
     "NOOP\r\n123456789xyz\r\nQUIT\r\n",
     {line("NOOP"), too_long, line("QUIT")}},
    {"tail with CR and NUL is dropped", 8, "123456789\r\0\r\nQUIT\n"s, {too_long, line("QUIT")}},
    {"limit 0: empty lines only", 0, "\r\n\n", {line(""), line("")}},
    {"limit 0: one byte is too long", 0, "a\r\n\r\n", {too_long, line("")}},
    {"limit 0: lone CR is too long", 0, "\r\r\n", {too_long}},
    {"limit 1", 1, "a\r\nab\r\nb\n", {line("a"), too_long, line("b")}},
    {"RFC 5321 command limit",
     510,
     "EHLO " + std::string(505, 'h') + "\r\nMAIL " + std::string(506, 'm') + "\r\nQUIT\r\n",
     {line("EHLO " + std::string(505, 'h')), too_long, line("QUIT")}},
};

TEST(line_reader, same_events_for_every_split) {
    for (const auto& c : line_cases) {
        SCOPED_TRACE(c.name);
        test::expect_same_for_all_splits(c.input, c.want, run_reader(c.max_line));
    }
}

TEST(line_reader, complete_consumes_through_lf_only) {
    line_reader r(512);
    const std::string in = "NOOP\r\nQUIT\r\n";
    auto res = r.parse(bytes(in));
    EXPECT_EQ(res.status, line_status::complete);
    EXPECT_EQ(res.consumed, 6u);
    EXPECT_EQ(r.line(), "NOOP");
    EXPECT_EQ(r.buffered(), 0u);

    res = r.parse(bytes(in).subspan(6));
    EXPECT_EQ(res.status, line_status::complete);
    EXPECT_EQ(res.consumed, 6u);
    EXPECT_EQ(r.line(), "QUIT");

    res = r.parse({});
    EXPECT_EQ(res.status, line_status::need_more);
    EXPECT_EQ(res.consumed, 0u);
}

TEST(line_reader, need_more_consumes_everything) {
    line_reader r(512);
    auto res = r.parse(bytes("EHLO exa"));
    EXPECT_EQ(res.status, line_status::need_more);
    EXPECT_EQ(res.consumed, 8u);
    EXPECT_EQ(r.buffered(), 8u);
    res = r.parse(bytes("mple.org\r"));
    EXPECT_EQ(res.status, line_status::need_more);
    EXPECT_EQ(res.consumed, 9u);
    res = r.parse(bytes("\nNOOP"));
    EXPECT_EQ(res.status, line_status::complete);
    EXPECT_EQ(res.consumed, 1u);
    EXPECT_EQ(r.line(), "EHLO example.org");
}

TEST(line_reader, too_long_is_reported_at_the_byte_that_passes_the_limit) {
    line_reader r(4);
    auto res = r.parse(bytes("12345678\r\nNOOP\r\n"));
    EXPECT_EQ(res.status, line_status::line_too_long);
    EXPECT_EQ(res.consumed, 5u);  // "1234" fits, "5" passes the limit
    EXPECT_EQ(r.buffered(), 0u);

    // The rest of the overlong line and the next line, in one call.
    res = r.parse(bytes("678\r\nNOOP\r\n"));
    EXPECT_EQ(res.status, line_status::complete);
    EXPECT_EQ(res.consumed, 11u);
    EXPECT_EQ(r.line(), "NOOP");
}

TEST(line_reader, cr_at_the_limit_waits_for_the_next_byte) {
    line_reader r(4);
    auto res = r.parse(bytes("1234\r"));
    EXPECT_EQ(res.status, line_status::need_more);
    EXPECT_EQ(r.buffered(), 5u);
    res = r.parse(bytes("5\n"));
    EXPECT_EQ(res.status, line_status::line_too_long);
    EXPECT_EQ(res.consumed, 1u);
    res = r.parse(bytes("\n"));
    EXPECT_EQ(res.status, line_status::need_more);
    EXPECT_EQ(res.consumed, 1u);
}

TEST(line_reader, discarding_without_lf_consumes_everything) {
    line_reader r(4);
    EXPECT_EQ(r.parse(bytes("123456")).status, line_status::line_too_long);
    const auto res = r.parse(bytes("QUIT\r"));
    EXPECT_EQ(res.status, line_status::need_more);
    EXPECT_EQ(res.consumed, 5u);
    EXPECT_EQ(r.buffered(), 0u);
}

TEST(line_reader, reset_forgets_partial_line_and_discarding) {
    line_reader r(4);
    EXPECT_EQ(r.parse(bytes("NO")).status, line_status::need_more);
    r.reset();
    EXPECT_EQ(r.buffered(), 0u);
    auto res = r.parse(bytes("QUIT\n"));
    EXPECT_EQ(res.status, line_status::complete);
    EXPECT_EQ(r.line(), "QUIT");

    EXPECT_EQ(r.parse(bytes("123456")).status, line_status::line_too_long);
    r.reset();
    res = r.parse(bytes("RSET\n"));
    EXPECT_EQ(res.status, line_status::complete);
    EXPECT_EQ(r.line(), "RSET");
}

TEST(line_reader, buffer_stays_bounded) {
    const std::size_t max = 16;
    line_reader r(max);
    std::size_t reports = 0;
    for (int i = 0; i < 10000; ++i) {
        const auto res = r.parse(bytes(i % 2 == 0 ? "x" : "\r"));
        if (res.status == line_status::line_too_long) ++reports;
        EXPECT_LE(r.buffered(), max + 1);
    }
    EXPECT_EQ(reports, 1u);
}

TEST(line_reader, shrinking_the_limit_under_a_partial_line) {
    line_reader r(512);
    EXPECT_EQ(r.parse(bytes("AUTH PLAIN ")).status, line_status::need_more);
    r.set_max_line(4);
    auto res = r.parse(bytes("abc\r\nQUIT\r\n"));
    EXPECT_EQ(res.status, line_status::line_too_long);
    EXPECT_EQ(res.consumed, 0u);
    res = r.parse(bytes("abc\r\nQUIT\r\n"));
    EXPECT_EQ(res.status, line_status::complete);
    EXPECT_EQ(res.consumed, 11u);
    EXPECT_EQ(r.line(), "QUIT");
}

TEST(line_reader, growing_the_limit_between_lines) {
    line_reader r(4);
    EXPECT_EQ(r.parse(bytes("AUTH\r\n")).status, line_status::complete);
    r.set_max_line(12);
    const auto res = r.parse(bytes("dGVzdAB0ZXN0\r\n"));
    EXPECT_EQ(res.status, line_status::complete);
    EXPECT_EQ(r.line(), "dGVzdAB0ZXN0");
}

TEST(line_reader, move_keeps_state) {
    line_reader a(8);
    EXPECT_EQ(a.parse(bytes("NO")).status, line_status::need_more);
    line_reader b(std::move(a));
    auto res = b.parse(bytes("OP\r\n"));
    EXPECT_EQ(res.status, line_status::complete);
    EXPECT_EQ(b.line(), "NOOP");

    line_reader c(1);
    EXPECT_EQ(c.parse(bytes("Q")).status, line_status::need_more);
    c = std::move(b);
    EXPECT_EQ(c.max_line(), 8u);
    res = c.parse(bytes("QUIT\n"));
    EXPECT_EQ(res.status, line_status::complete);
    EXPECT_EQ(c.line(), "QUIT");
}

struct command_case {
    std::string line;
    command_status status;
    std::string verb;
    std::string args;
};

const std::vector<command_case> command_cases = {
    // valid
    {"EHLO x", command_status::ok, "EHLO", "x"},
    {"ehlo  x ", command_status::ok, "EHLO", "x"},
    {"MAIL FROM:<a@b>", command_status::ok, "MAIL", "FROM:<a@b>"},
    {"QUIT", command_status::ok, "QUIT", ""},
    {"\tNOOP", command_status::ok, "NOOP", ""},
    {"StartTLS", command_status::ok, "STARTTLS", ""},
    {"noop \t ", command_status::ok, "NOOP", ""},
    {"  rcpt\tTO:<a@b> NOTIFY=NEVER \t", command_status::ok, "RCPT", "TO:<a@b> NOTIFY=NEVER"},
    {"MAIL FROM:<a@b>  BODY=8BITMIME", command_status::ok, "MAIL", "FROM:<a@b>  BODY=8BITMIME"},
    {"AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=", command_status::ok, "AUTH", "PLAIN dGVzdAB0ZXN0AHRlc3Q="},
    {"EHLO \xc3\xa9xample.org", command_status::ok, "EHLO", "\xc3\xa9xample.org"},
    {"X", command_status::ok, "X", ""},
    {"abcdefghijklmnop", command_status::ok, "ABCDEFGHIJKLMNOP", ""},
    {"GET / HTTP/1.1", command_status::ok, "GET", "/ HTTP/1.1"},  // the session refuses it
    // empty
    {"", command_status::empty, "", ""},
    {" ", command_status::empty, "", ""},
    {"\t \t", command_status::empty, "", ""},
    // invalid
    {"MAIL:", command_status::bad_syntax, "", ""},
    {"MAIL:FROM:<a@b>", command_status::bad_syntax, "", ""},
    {"MAIL-FROM", command_status::bad_syntax, "", ""},
    {"12", command_status::bad_syntax, "", ""},
    {"E1LO x", command_status::bad_syntax, "", ""},
    {"H\xff", command_status::bad_syntax, "", ""},
    {"\xc3\x89HLO x", command_status::bad_syntax, "", ""},
    {"abcdefghijklmnopq", command_status::bad_syntax, "", ""},
    {"abcdefghijklmnopq x", command_status::bad_syntax, "", ""},
    {"HELO\x0bx", command_status::bad_syntax, "", ""},
    {"\0"s, command_status::bad_syntax, "", ""},
    {"EHLO\0x"s, command_status::bad_syntax, "", ""},
    {"EHLO x\0"s, command_status::bad_syntax, "", ""},
    {"EHLO\rx", command_status::bad_syntax, "", ""},
    {"EHLO x\r", command_status::bad_syntax, "", ""},
    {"\rEHLO x", command_status::bad_syntax, "", ""},
    {" \r", command_status::bad_syntax, "", ""},
};

TEST(parse_command, table) {
    for (const auto& c : command_cases) {
        SCOPED_TRACE("line \"" + escape(c.line) + "\"");
        const parsed_command got = parse_command(c.line);
        EXPECT_EQ(got.status, c.status);
        EXPECT_EQ(got.cmd.verb, c.verb);
        EXPECT_EQ(got.cmd.args, c.args);
        if (!got.cmd.args.empty()) {
            // args points into the line it was parsed from
            EXPECT_GE(got.cmd.args.data(), c.line.data());
            EXPECT_LE(got.cmd.args.data() + got.cmd.args.size(), c.line.data() + c.line.size());
        }
    }
}

TEST(parse_command, lines_from_the_reader) {
    line_reader r(512);
    const std::string in = "ehlo client.example\r\nMAIL FROM:<a@b> SIZE=10 \r\n";
    auto res = r.parse(bytes(in));
    ASSERT_EQ(res.status, line_status::complete);
    auto cmd = parse_command(r.line());
    EXPECT_EQ(cmd.status, command_status::ok);
    EXPECT_EQ(cmd.cmd.verb, "EHLO");
    EXPECT_EQ(cmd.cmd.args, "client.example");

    res = r.parse(bytes(in).subspan(res.consumed));
    ASSERT_EQ(res.status, line_status::complete);
    cmd = parse_command(r.line());
    EXPECT_EQ(cmd.status, command_status::ok);
    EXPECT_EQ(cmd.cmd.verb, "MAIL");
    EXPECT_EQ(cmd.cmd.args, "FROM:<a@b> SIZE=10");
}

}  // namespace
}  // namespace submitd::smtp
