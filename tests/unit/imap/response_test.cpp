// The IMAP response parser on its own (STYLE.md §10): table-driven valid and
// invalid responses, each fed whole, split at every offset and byte by byte
// with the same events; literals taken byte-exactly whatever they hold; the
// fetch target's data kept up to its limit and skipped beyond it.
#include "imap/response.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "../smtp/split_feed.hpp"

namespace submitd::imap {
namespace {

const char* status_name(status_word s) {
    switch (s) {
        case status_word::none:
            return "-";
        case status_word::ok:
            return "OK";
        case status_word::no:
            return "NO";
        case status_word::bad:
            return "BAD";
        case status_word::bye:
            return "BYE";
        case status_word::preauth:
            return "PREAUTH";
    }
    return "?";
}

const char* data_name(data_state d) {
    switch (d) {
        case data_state::absent:
            return "absent";
        case data_state::nil:
            return "nil";
        case data_state::value:
            return "value";
        case data_state::too_big:
            return "too_big";
    }
    return "?";
}

/// One line per response: its kind and what the client reads of it.
std::string describe(const response& r) {
    std::string out;
    switch (r.type) {
        case response_type::continuation:
            return "+ text=" + test::escape(r.text);
        case response_type::tagged:
            out = "tagged " + r.tag;
            break;
        case response_type::untagged:
            out = "*";
            if (r.number) out += " " + std::to_string(*r.number);
            out += " " + r.name;
            break;
    }
    if (r.status != status_word::none) {
        out += std::string(" status=") + status_name(r.status);
        if (!r.code.empty()) out += " code=" + r.code + " args=" + test::escape(r.code_args);
        out += " text=" + test::escape(r.text);
    }
    if (!r.capabilities.empty()) {
        out += " caps=";
        for (std::size_t i = 0; i < r.capabilities.size(); ++i)
            out += (i > 0 ? "," : "") + r.capabilities[i];
    }
    if (r.uid) out += " uid=" + std::to_string(*r.uid);
    if (r.data != data_state::absent) {
        out += std::string(" data=") + data_name(r.data) + " size=" + std::to_string(r.data_size);
        if (r.data == data_state::value) out += " octets=" + test::escape(r.octets);
    }
    return out;
}

using events = std::vector<std::string>;

/// Parses the pieces with a fresh parser; an error ends the events.
events parse_pieces(const test::pieces& parts, const data_target& target, parser_limits limits) {
    response_parser p(limits);
    p.set_target(target);
    events out;
    bool failed = false;
    test::drive(parts, [&](std::span<const char> in) {
        if (failed) return test::progress{0, false};
        const parse_result r = p.parse(std::string_view(in.data(), in.size()));
        if (r.status == parse_status::bad_input) {
            out.push_back("error: " + p.error());
            failed = true;
            return test::progress{r.consumed, false};
        }
        if (r.status == parse_status::complete) {
            out.push_back(describe(p.take()));
            return test::progress{r.consumed, true};
        }
        EXPECT_EQ(r.consumed, in.size()) << "need_more must consume everything";
        return test::progress{r.consumed, false};
    });
    return out;
}

void check(std::string_view input, const events& want, const data_target& target = {},
           parser_limits limits = {}) {
    EXPECT_EQ(parse_pieces({input}, target, limits), want) << test::escape(input);
    test::expect_same_for_all_splits(input, want, [&](const test::pieces& parts) {
        return parse_pieces(parts, target, limits);
    });
}

data_target fetch_target(std::string section, std::uint64_t max_size = 1000,
                         std::optional<std::uint64_t> origin = std::nullopt) {
    data_target t;
    t.what = data_target::kind::fetch;
    t.section = std::move(section);
    t.origin = origin;
    t.max_size = max_size;
    return t;
}

data_target urlfetch_target(std::string url, std::uint64_t max_size = 1000) {
    data_target t;
    t.what = data_target::kind::urlfetch;
    t.url = std::move(url);
    t.max_size = max_size;
    return t;
}

// --- status responses, capabilities, continuations ---------------------------

TEST(response_parser, status_responses) {
    check(
        "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS "
        "AUTH=PLAIN] Dovecot (Debian) ready.\r\n",
        {"* OK status=OK code=CAPABILITY args=IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
         "LITERAL+ STARTTLS AUTH=PLAIN text=[CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID "
         "ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN] Dovecot (Debian) ready. "
         "caps=IMAP4REV1,SASL-IR,LOGIN-REFERRALS,ID,ENABLE,IDLE,LITERAL+,STARTTLS,AUTH=PLAIN"});
    check(
        "a1 OK Begin TLS negotiation now.\r\na2 no [AUTHENTICATIONFAILED] Authentication "
        "failed.\r\nA3 BAD\r\n",
        {"tagged a1 status=OK text=Begin TLS negotiation now.",
         "tagged a2 status=NO code=AUTHENTICATIONFAILED args= text=[AUTHENTICATIONFAILED] "
         "Authentication failed.",
         "tagged A3 status=BAD text="});
    check(
        "* PREAUTH IMAP4rev1 server logged in as alice\r\n* BYE Autologout; idle for too "
        "long\r\n* NO [ALERT] disk full\r\n",
        {"* PREAUTH status=PREAUTH text=IMAP4rev1 server logged in as alice",
         "* BYE status=BYE text=Autologout; idle for too long",
         "* NO status=NO code=ALERT args= text=[ALERT] disk full"});
    check("* OK [UIDVALIDITY 1700000000] UIDs valid\r\n* OK [PERMANENTFLAGS ()] Read-only.\r\n",
          {"* OK status=OK code=UIDVALIDITY args=1700000000 text=[UIDVALIDITY 1700000000] UIDs "
           "valid",
           "* OK status=OK code=PERMANENTFLAGS args=() text=[PERMANENTFLAGS ()] Read-only."});
}

TEST(response_parser, status_text_is_never_a_literal) {
    // The mailbox comes from the BURL URL: "{5}" at the end of the text is
    // text, and the next response is read as one.
    check("a3 NO Mailbox doesn't exist: x{5}\r\n* BYE {3}\r\na4 OK x\r\n",
          {"tagged a3 status=NO text=Mailbox doesn't exist: x{5}", "* BYE status=BYE text={3}",
           "tagged a4 status=OK text=x"});
}

TEST(response_parser, capability_and_continuation) {
    check("* CAPABILITY IMAP4rev1 starttls Auth=Plain LOGINDISABLED\r\n+ \r\n+\r\n+ UmVhZHk=\r\n",
          {"* CAPABILITY caps=IMAP4REV1,STARTTLS,AUTH=PLAIN,LOGINDISABLED",
           "+ text=", "+ text=", "+ text=UmVhZHk="});
}

TEST(response_parser, untagged_data_is_skipped_with_its_literals) {
    check(
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n* 3 EXISTS\r\n* 0 RECENT\r\n"
        "* LIST (\\HasNoChildren) \"/\" {12}\r\na1 OK fake\r\n\r\n"
        "* ID (\"name\" \"Dovecot\" \"x\" NIL)\r\n* SEARCH 1 2 3\r\n"
        "* STATUS {3}\r\n) ( (MESSAGES 2)\r\n",
        {"* FLAGS", "* 3 EXISTS", "* 0 RECENT", "* LIST", "* ID", "* SEARCH", "* STATUS"});
}

// --- FETCH --------------------------------------------------------------------

TEST(response_parser, fetch_body_literal_with_uid_before_or_after) {
    const std::string body = "a4 OK x\r\n* BYE (\r\n{5}\r\n" + std::string("\0\xff)", 3);
    const std::string lit = "{" + std::to_string(body.size()) + "}\r\n" + body;
    const std::string want = "* 1 FETCH uid=7 data=value size=" + std::to_string(body.size()) +
                             " octets=" + test::escape(body);
    check("* 1 FETCH (UID 7 FLAGS (\\Seen) BODY[] " + lit + ")\r\n", {want}, fetch_target(""));
    check("* 1 FETCH (BODY[] " + lit + " UID 7)\r\n", {want}, fetch_target(""));
    check("* 1 FETCH (FLAGS (\\Seen $X) BODY[] " + lit + " MODSEQ (12) UID 7)\r\n", {want},
          fetch_target(""));
}

TEST(response_parser, fetch_sections_origins_quoted_and_nil) {
    check("* 2 FETCH (UID 9 BODY[1.2]<0> {3}\r\nabc)\r\n",
          {"* 2 FETCH uid=9 data=value size=3 octets=abc"}, fetch_target("1.2", 10, 0));
    // Without the origin asked for, BODY[1.2]<0> is another item.
    check("* 2 FETCH (UID 9 BODY[1.2]<0> {3}\r\nabc)\r\n", {"* 2 FETCH uid=9"},
          fetch_target("1.2"));
    check("* 2 FETCH (UID 9 BODY[1.2] {3}\r\nabc)\r\n", {"* 2 FETCH uid=9"},
          fetch_target("1.2", 10, 0));
    check("* 2 FETCH (UID 9 BODY[HEADER.FIELDS (FROM TO)] \"From: a\\\"b\\\\\")\r\n",
          {"* 2 FETCH uid=9 data=value size=10 octets=From: a\\\"b\\\\"},
          fetch_target("header.fields (From To)"));
    check("* 2 FETCH (UID 9 BODY[TEXT] NIL)\r\n", {"* 2 FETCH uid=9 data=nil size=0"},
          fetch_target("TEXT"));
    check("* 2 FETCH (BODY[1] {1}\r\nx UID 9 BODY[2] \"y\")\r\n", {"* 2 FETCH uid=9"},
          fetch_target("3"));
    // Flags and other items only.
    check("* 5 FETCH (FLAGS (\\Seen) UID 12)\r\n* 6 FETCH (FLAGS ())\r\n",
          {"* 5 FETCH uid=12", "* 6 FETCH"}, fetch_target(""));
}

TEST(response_parser, fetch_data_over_max_size_is_skipped) {
    const std::string big(100, 'x');
    check("* 1 FETCH (UID 1 BODY[] {100}\r\n" + big + ")\r\n* 2 FETCH (UID 2 BODY[] \"" + big +
              "\")\r\na1 OK done\r\n",
          {"* 1 FETCH uid=1 data=too_big size=100", "* 2 FETCH uid=2 data=too_big size=100",
           "tagged a1 status=OK text=done"},
          fetch_target("", 99));
    check("* 1 FETCH (UID 1 BODY[] {100}\r\n" + big + ")\r\n",
          {"* 1 FETCH uid=1 data=value size=100 octets=" + big}, fetch_target("", 100));
}

TEST(response_parser, without_a_target_fetch_data_is_only_measured) {
    check("* 1 FETCH (UID 1 BODY[] {5}\r\nhello)\r\n", {"* 1 FETCH uid=1"});
    check("* 1 FETCH (UID 1 BODY[] {5}\r\nhello)\r\n",
          {"error: a literal of 5 bytes, over the "
           "limit of 4"},
          {}, parser_limits{100, 4});
}

TEST(response_parser, the_target_applies_from_the_next_response) {
    response_parser p;
    std::string in = "* 1 FETCH (UID 1 BODY[] {5}\r\nhel";
    parse_result r = p.parse(in);
    EXPECT_EQ(r.status, parse_status::need_more);
    p.set_target(fetch_target(""));
    in = "lo)\r\n* 1 FETCH (UID 1 BODY[] {5}\r\nhello)\r\n";
    r = p.parse(in);
    ASSERT_EQ(r.status, parse_status::complete);
    EXPECT_EQ(describe(p.take()), "* 1 FETCH uid=1");
    in.erase(0, r.consumed);
    r = p.parse(in);
    ASSERT_EQ(r.status, parse_status::complete);
    EXPECT_EQ(describe(p.take()), "* 1 FETCH uid=1 data=value size=5 octets=hello");
    EXPECT_EQ(r.consumed, in.size());
}

// --- URLFETCH -------------------------------------------------------------------

const std::string url =
    "imap://alice@127.0.0.1:1143/INBOX;UIDVALIDITY=1700000000/;UID=1;urlauth=submit+alice:"
    "internal:0123456789abcdef0123456789abcdef01234567";

TEST(response_parser, urlfetch_quoted_atom_and_literal_urls) {
    const std::string want = "* URLFETCH data=value size=5 octets=hello";
    check("* URLFETCH \"" + url + "\" {5}\r\nhello\r\n", {want}, urlfetch_target(url));  // Cyrus
    check("* URLFETCH " + url + " {5}\r\nhello\r\n", {want}, urlfetch_target(url));      // Dovecot
    check("* URLFETCH {" + std::to_string(url.size()) + "}\r\n" + url + " ~{5}\r\nhello\r\n",
          {want}, urlfetch_target(url));
    check("* URLFETCH " + url + " \"hello\"\r\n", {want}, urlfetch_target(url));
    check("* URLFETCH " + url + " NIL\r\n", {"* URLFETCH data=nil size=0"}, urlfetch_target(url));
    // Another URL's data does not count, before or after ours.
    check("* URLFETCH imap://x/y {3}\r\nabc " + url + " {5}\r\nhello \"imap://z\" NIL\r\n", {want},
          urlfetch_target(url));
    check("* URLFETCH " + url + "x {5}\r\nhello\r\n", {"* URLFETCH"}, urlfetch_target(url));
    check("* URLFETCH " + url + " {5}\r\nhello\r\n", {"* URLFETCH data=too_big size=5"},
          urlfetch_target(url, 4));
}

// --- limits and malformed input -------------------------------------------------

TEST(response_parser, line_limit) {
    const parser_limits limits{10, 100};
    check("a1 OK 1234\r\n", {"tagged a1 status=OK text=1234"}, {}, limits);
    check("a1 OK 12345\r\n", {"error: a response line longer than 10 bytes"}, {}, limits);
    check("a1 OK 1234\r\r\n", {"error: a response line longer than 10 bytes"}, {}, limits);
    // The limit is on the whole response outside its literals.
    check("* X {3}\r\nabc 1\r\n", {"* X"}, {}, limits);
    check("* X {3}\r\nabc 123\r\n", {"error: a response line longer than 10 bytes"}, {}, limits);
    check("* X {0}\r\n{0}\r\n{0}\r\n", {"error: a response line longer than 10 bytes"}, {}, limits);
}

TEST(response_parser, malformed) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"\r\n", "an empty line"},
        {"a1 OK x\n", "a line that does not end with CRLF"},
        {"a1 OK x\ry\r\n", "a CR, LF or NUL inside a line"},
        {std::string("a1 OK \0\r\n", 9), "a CR, LF or NUL inside a line"},
        {"*\r\n", "a bad tag"},
        {"* \r\n", "an untagged response without a name"},
        {"* 1x FETCH (UID 1)\r\n", "a bad message number"},
        {"* 99999999999 EXISTS\r\n", "a bad message number"},
        {"* 3\r\n", "a message number without a name"},
        {"a1 FOO bar\r\n", "a tagged response that is not OK, NO or BAD"},
        {"a(1 OK x\r\n", "a bad tag"},
        {"* 1 FETCH (UID 1 BODY[] {12x}\r\n", "a bad literal header"},
        {"* 1 FETCH (UID 1 BODY[] {}\r\n", "a bad literal header"},
        {"* 1 FETCH (UID 1 BODY[] {5+}\r\n", "a bad literal header"},
        {"* 1 FETCH (UID 1 BODY[] {99999999999999999999999}\r\n", "a bad literal header"},
        {"* 1 FETCH (UID 1 BODY[] {5}hello)\r\n", "a literal header not at the end of a line"},
        {"* 1 FETCH (UID 1\r\n", "unbalanced parentheses"},
        {"* FLAGS (\\Seen))\r\n", "unbalanced parentheses"},
        {"* 1 FETCH UID 1\r\n", "FETCH data that is not a list"},
        {"* 1 FETCH\r\n", "FETCH without its list"},
        {"* 1 FETCH (UID 1) X\r\n", "FETCH data after its list"},
        {"* 1 FETCH (UID)\r\n", "a FETCH attribute without a value"},
        {"* 1 FETCH (\"UID\" 1)\r\n", "a FETCH attribute name that is not an atom"},
        {"* 1 FETCH (UID x)\r\n", "a bad UID"},
        {"* 1 FETCH (BODY[HEADER 1)\r\n", "an unterminated section"},
        {"* LIST () \"/\" \"INBOX\r\n", "an unterminated quoted string"},
        {"* LIST () \"/\" \"IN\\BOX\"\r\n", "a bad escape in a quoted string"},
        {"* LIST () \"/\" IN\"BOX\r\n", "a bad character in an atom"},
        {"* URLFETCH NIL NIL\r\n", "a URLFETCH URL that is NIL"},
        {"* URLFETCH imap://x\r\n", "a URLFETCH URL without data"},
        {"* LIST () \"/\" {2000000}\r\n", "a literal of 2000000 bytes, over the limit of 1048576"},
    };
    for (const auto& [input, error] : cases) {
        SCOPED_TRACE(test::escape(input));
        check(input, {"error: " + error}, fetch_target(""));
    }
}

TEST(response_parser, stays_failed) {
    response_parser p;
    EXPECT_EQ(p.parse("* 1 FETCH (UID 1\r\na1 OK\r\n").status, parse_status::bad_input);
    const parse_result r = p.parse("a1 OK x\r\n");
    EXPECT_EQ(r.status, parse_status::bad_input);
    EXPECT_EQ(r.consumed, 0U);
    p.reset();
    EXPECT_EQ(p.parse("a1 OK x\r\n").status, parse_status::complete);
}

TEST(response_parser, literal_shorter_than_announced_eats_the_next_lines) {
    // The literal swallows the tag line: the parser waits for the rest, and
    // what follows is the continuation of the FETCH, which cannot close.
    check("* 1 FETCH (UID 1 BODY[] {20}\r\nhello)\r\na4 OK done\r\n", {}, fetch_target(""));
    check("* 1 FETCH (UID 1 BODY[] {20}\r\nhello)\r\na4 OK done\r\na5 OK x\r\n",
          {"error: unbalanced parentheses"}, fetch_target(""));
}

TEST(response_parser, numbers) {
    EXPECT_EQ(parse_number("0"), 0U);
    EXPECT_EQ(parse_number("4294967295"), 4294967295U);
    EXPECT_FALSE(parse_number("4294967296"));
    EXPECT_FALSE(parse_number(""));
    EXPECT_FALSE(parse_number("12a"));
    EXPECT_FALSE(parse_number("00000000001"));
}

}  // namespace
}  // namespace submitd::imap
