// Tests for smtp/address: parse_path() over a table of valid and invalid
// paths (each invalid one with its reply code and enhanced code), the
// lenient options, the RFC 5321 length limits at and one past the limit,
// check_mailbox(), and the UTF-8 sequence checker.
#include "smtp/address.hpp"

#include <gtest/gtest.h>

#include "split_feed.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace submitd::smtp {
namespace {

using test::escape;

using namespace std::string_literals;

constexpr auto reverse = path_kind::reverse;
constexpr auto forward = path_kind::forward;
constexpr std::size_t whole = std::string::npos;  // consumed: all of the input

const path_options strict{};
const path_options utf8{.allow_utf8 = true};
const path_options bare{.mailbox_for_path = true};
const path_options bare_utf8{.mailbox_for_path = true, .allow_utf8 = true};

struct path_case {
    std::string in;
    path_kind kind = reverse;
    path_options options;
    // For a valid path:
    std::string mailbox;
    std::size_t consumed = whole;
    bool non_ascii = false;
    // For an invalid one (code 0: valid):
    int code = 0;
    std::string enhanced;
};

path_case ok(std::string in, std::string mailbox, path_kind kind = reverse,
             path_options options = strict, std::size_t consumed = whole) {
    path_case c{std::move(in), kind, options, std::move(mailbox), consumed};
    for (const char ch : c.mailbox)
        c.non_ascii = c.non_ascii || static_cast<unsigned char>(ch) >= 0x80;
    return c;
}

path_case bad(std::string in, int code, std::string enhanced, path_kind kind = reverse,
              path_options options = strict) {
    return {std::move(in), kind, options, {}, whole, false, code, std::move(enhanced)};
}

path_case invalid(std::string in, path_kind kind = reverse, path_options options = strict) {
    return bad(std::move(in), 553, "5.1.3", kind, options);
}

path_case needs_utf8(std::string in, path_kind kind = reverse, path_options options = strict) {
    return bad(std::move(in), 553, "5.6.7", kind, options);
}

const std::string l64(64, 'l');
const std::string label63(63, 'd');
// 255 octets: four labels of 63 joined by dots.
const std::string d255 = label63 + "." + label63 + "." + label63 + "." + label63;

const std::vector<path_case> path_cases = {
    // The null path and ordinary mailboxes.
    ok("<>", ""),
    ok("<a@b>", "a@b"),
    ok("<A@B.Example>", "A@B.Example"),
    ok("<user.name+tag@example.org>", "user.name+tag@example.org"),
    ok("<!#$%&'*+-/=?^_`{|}~@x>", "!#$%&'*+-/=?^_`{|}~@x"),
    ok("<a@b-c.d>", "a@b-c.d"),
    ok("<a@1.2>", "a@1.2"),
    ok("<a@xn--bcher-kva.example>", "a@xn--bcher-kva.example"),
    ok("<a@b> SIZE=1", "a@b", reverse, strict, 5),
    ok("<a@b>>", "a@b", reverse, strict, 5),  // what follows is the caller's
    ok("<>  x", "", reverse, strict, 2),
    // Quoted local parts: spaces, specials and escapes inside the quotes.
    ok(R"(<"a b"@c>)", R"("a b"@c)"),
    ok(R"(<"a\"b"@c>)", R"("a\"b"@c)"),
    ok(R"(<"a\\b"@c>)", R"("a\\b"@c)"),
    ok(R"(<""@c>)", R"(""@c)"),
    ok(R"(<"a>b"@c>)", R"("a>b"@c)"),
    ok(R"(<"<a@b>"@c>)", R"("<a@b>"@c)"),
    ok(R"(<"\ "@c>)", R"("\ "@c)"),
    // Source routes are read and dropped.
    ok("<@a:c@d>", "c@d"),
    ok("<@a,@b:c@d>", "c@d"),
    ok("<@a.example,@b-1.example,@c:x.y@z>", "x.y@z"),
    // Address literals.
    ok("<a@[1.2.3.4]>", "a@[1.2.3.4]"),
    ok("<a@[255.255.255.255]>", "a@[255.255.255.255]"),
    ok("<a@[0.0.0.0]>", "a@[0.0.0.0]"),
    ok("<a@[IPv6:::1]>", "a@[IPv6:::1]"),
    ok("<a@[IPv6:::]>", "a@[IPv6:::]"),
    ok("<a@[IPv6:2001:db8::1]>", "a@[IPv6:2001:db8::1]"),
    ok("<a@[ipv6:2001:DB8:0:0:0:0:0:1]>", "a@[ipv6:2001:DB8:0:0:0:0:0:1]"),
    ok("<a@[IPv6:1:2:3:4:5:6:7::]>", "a@[IPv6:1:2:3:4:5:6:7::]"),
    ok("<a@[IPv6:::2:3:4:5:6:7:8]>", "a@[IPv6:::2:3:4:5:6:7:8]"),
    ok("<a@[IPv6:::ffff:1.2.3.4]>", "a@[IPv6:::ffff:1.2.3.4]"),
    ok("<a@[IPv6:1:2:3:4:5:6:1.2.3.4]>", "a@[IPv6:1:2:3:4:5:6:1.2.3.4]"),
    ok("<a@[IPv6:1::1.2.3.4]>", "a@[IPv6:1::1.2.3.4]"),
    ok("<a@[x-tag:any!thing]>", "a@[x-tag:any!thing]"),
    // Postmaster, for RCPT only.
    ok("<Postmaster>", "Postmaster", forward),
    ok("<postMASTER>", "postMASTER", forward),
    ok("<Postmaster@example.org>", "Postmaster@example.org", forward),
    ok("<Postmaster> NOTIFY=NEVER", "Postmaster", forward, strict, 12),
    // At the limits (RFC 5321 section 4.5.3.1).
    ok("<" + l64 + "@b>", l64 + "@b"),
    ok("<a@" + label63 + ">", "a@" + label63),
    // 256 octets with the brackets: 64 + 1 + 189 + 2.
    ok("<" + l64 + "@" + d255.substr(0, 189) + ">", l64 + "@" + d255.substr(0, 189)),
    // UTF-8 (RFC 6531) when allowed.
    ok("<\xc3\xa9@b>", "\xc3\xa9@b", reverse, utf8),
    ok("<a@\xe4\xbe\x8b\xe3\x81\x88.jp>", "a@\xe4\xbe\x8b\xe3\x81\x88.jp", reverse, utf8),
    ok("<\"\xc3\xa9 x\"@b>", "\"\xc3\xa9 x\"@b", reverse, utf8),
    ok("<\xf0\x9f\x93\xa7@b>", "\xf0\x9f\x93\xa7@b", forward, utf8),
    ok("<a@b>", "a@b", reverse, utf8),
    // mailbox_for_path: a bare mailbox ends at a space.
    ok("a@b", "a@b", reverse, bare),
    ok("a@b SIZE=10", "a@b", reverse, bare, 3),
    ok("\"a b\"@c", "\"a b\"@c", reverse, bare),
    ok("<a@b>", "a@b", reverse, bare),
    ok("postmaster", "postmaster", forward, bare),
    ok("Postmaster NOTIFY=NEVER", "Postmaster", forward, bare, 10),
    ok("\xc3\xa9@b", "\xc3\xa9@b", forward, bare_utf8),

    // Not a path at all: the caller's 501.
    bad("", 501, "5.5.4"),
    bad("a@b", 501, "5.5.4"),
    bad(" <a@b>", 501, "5.5.4"),
    // Brackets.
    invalid("<"),
    invalid("<a@b"),
    invalid("<a@b c>"),
    invalid("<<a@b>"),
    invalid("<<a@b>>"),
    invalid("<a@b<>"),
    invalid("< a@b>"),
    invalid("<a@b >"),
    invalid("< >"),
    invalid("<>", forward),
    invalid("<Postmaster>"),  // MAIL has no bare Postmaster
    invalid("<Postmaster >", forward),
    invalid("<@a:Postmaster>", forward),
    // Local parts.
    invalid("<a>"),
    invalid("<@b>"),
    invalid("<a b@c>"),
    invalid("<.a@b>"),
    invalid("<a.@b>"),
    invalid("<a..b@c>"),
    invalid("<a@@b>"),
    invalid("<a,b@c>"),
    invalid("<a(b)@c>"),
    invalid("<a\"@b>"),
    invalid("<\"a\"b@c>"),
    invalid("<\"a\".b@c>"),
    invalid("<\"a@b>"),
    invalid("<\"a@b"),
    invalid("<\"a\\"),
    invalid("<\"a\\\"@b>"),
    invalid("<\"a\tb\"@c>"),
    invalid("<\"a\\\tb\"@c>"),
    invalid("<" + l64 + "l@b>"),
    invalid("<\"" + std::string(63, 'q') + "\"@b>"),  // 65 with the quotes
    // Control bytes, NULs, CR and LF inside the path.
    invalid("<a\0@b>"s),
    invalid("<a@b\0>"s),
    invalid("<\0>"s),
    invalid("<\"a\0\"@b>"s),
    invalid("<a\r\n@b>"),
    invalid("<a@b\r\n>"),
    invalid("<a\x7f@b>"),
    invalid("<a\x1b@b>"),
    // Domains.
    invalid("<a@>"),
    invalid("<a@.b>"),
    invalid("<a@b.>"),
    invalid("<a@b..c>"),
    invalid("<a@-b>"),
    invalid("<a@b->"),
    invalid("<a@b-.c>"),
    invalid("<a@b_c>"),
    invalid("<a@b,c>"),
    invalid("<a@" + label63 + "d>"),
    invalid("<a@" + d255 + ">"),  // the domain fits, the path does not
    invalid("<a@" + d255 + ".c>"),
    invalid("<a@b@c>"),
    // Address literals.
    invalid("<a@[]>"),
    invalid("<a@[1.2.3]>"),
    invalid("<a@[1.2.3.256]>"),
    invalid("<a@[1.2.3.4.5]>"),
    invalid("<a@[1.2.3.0004]>"),
    invalid("<a@[1..2.3]>"),
    invalid("<a@[1.2.3.4>"),
    invalid("<a@[1.2.3.4]x>"),
    invalid("<a@[1.2.3.4].b>"),
    invalid("<a@[[1.2.3.4]]>"),
    invalid("<a@[IPv6:1:2:3:4:5:6:7:8:9]>"),
    invalid("<a@[IPv6:1:2:3:4:5:6:7]>"),
    invalid("<a@[IPv6:1:2:3:4:5:6:7:8::]>"),
    invalid("<a@[IPv6:1::2::3]>"),
    invalid("<a@[IPv6::::1]>"),
    invalid("<a@[IPv6:12345::]>"),
    invalid("<a@[IPv6:g::1]>"),
    invalid("<a@[IPv6:::1.2.3]>"),
    invalid("<a@[IPv6:1.2.3.4::]>"),
    invalid("<a@[IPv6:1:2:3:4:5:6:7:1.2.3.4]>"),
    invalid("<a@[IPv6:1:]>"),
    invalid("<a@[IPv6:]>"),
    invalid("<a@[:x]>"),
    invalid("<a@[tag:]>"),
    invalid("<a@[tag-:x]>"),
    invalid("<a@[a b]>"),
    invalid("<a@[a\\b]>"),
    // Source routes.
    invalid("<@a>"),
    invalid("<@a,b:c@d>"),
    invalid("<@a:>"),
    invalid("<@a,:c@d>"),
    invalid("<@:c@d>"),
    invalid("<@a;c@d>"),
    invalid("<@[1.2.3.4]:a@b>"),
    // Lengths: one past each limit, and hostile sizes.
    invalid("<" + l64 + "@" + d255.substr(0, 190) + ">"),  // 257 octets
    invalid("<" + std::string(10000, 'a') + "@b>"),
    invalid("<a@" + std::string(10000, 'b') + ">"),
    invalid("<a@" +
            [] {
                std::string d;
                for (int i = 0; i < 2000; ++i)
                    d += "b.";
                return d + "c";
            }() +
            ">"),
    invalid("<@" + d255 + ",@" + d255 + ":a@b>"),
    invalid(std::string(10000, '<')),
    // UTF-8 without SMTPUTF8, and UTF-8 that is not.
    needs_utf8("<\xc3\xa9@b>"),
    needs_utf8("<a@\xc3\xa9.b>"),
    needs_utf8("<\"\xc3\xa9\"@b>"),
    needs_utf8("<@\xc3\xa9:a@b>"),
    needs_utf8("\xc3\xa9@b", forward, bare),
    invalid("<\xff@b>"),
    invalid("<\xff@b>", reverse, utf8),
    invalid("<\xc3@b>", reverse, utf8),      // truncated
    invalid("<\xc3", reverse, utf8),         // truncated at the end of the input
    invalid("<\xc0\xaf@b>", reverse, utf8),  // overlong "/"
    invalid("<\xe0\x80\xaf@b>", reverse, utf8),
    invalid("<\xed\xa0\x80@b>", reverse, utf8),      // surrogate
    invalid("<\xf4\x90\x80\x80@b>", reverse, utf8),  // above U+10FFFF
    invalid("<a@[\xc3\xa9]>", reverse, utf8),
    invalid("<\"a\\\xc3\xa9\"@b>", reverse, utf8),  // quoted-pair is ASCII only
    // mailbox_for_path.
    invalid("a b@c", reverse, bare),
    invalid("a", reverse, bare),
    invalid("postmaster", reverse, bare),
    invalid("postmasters", forward, bare),
    invalid("@a:b@c", reverse, bare),
};

TEST(parse_path, table) {
    for (const auto& c : path_cases) {
        SCOPED_TRACE("path \"" + escape(c.in) + "\"" + (c.kind == forward ? " (RCPT)" : "") +
                     (c.options.mailbox_for_path ? " bare" : "") +
                     (c.options.allow_utf8 ? " utf8" : ""));
        const auto got = parse_path(c.in, c.kind, c.options);
        if (c.code == 0) {
            if (const auto* e = std::get_if<syntax_error>(&got)) {
                ADD_FAILURE() << "got " << e->code << " " << e->enhanced << " " << e->text;
                continue;
            }
            const auto& p = std::get<parsed_path>(got);
            EXPECT_EQ(p.mailbox, c.mailbox);
            EXPECT_EQ(p.consumed, c.consumed == whole ? c.in.size() : c.consumed);
            EXPECT_EQ(p.non_ascii, c.non_ascii);
        } else {
            if (const auto* p = std::get_if<parsed_path>(&got)) {
                ADD_FAILURE() << "got mailbox \"" << escape(p->mailbox) << "\"";
                continue;
            }
            const auto& e = std::get<syntax_error>(got);
            EXPECT_EQ(e.code, c.code) << e.text;
            EXPECT_EQ(e.enhanced, c.enhanced) << e.text;
            if (c.code == 553 && c.enhanced == "5.1.3") {
                EXPECT_EQ(e.text.rfind("Invalid address: ", 0), 0u) << e.text;
            }
            for (const char ch : e.text) {
                const auto u = static_cast<unsigned char>(ch);
                EXPECT_TRUE(u >= 0x20 && u < 0x7f) << "reply text has byte " << int{u};
            }
        }
    }
}

TEST(parse_path, reasons_name_what_is_wrong) {
    const auto reason = [](std::string_view in, path_kind kind = reverse) {
        const auto got = parse_path(in, kind, strict);
        const auto* e = std::get_if<syntax_error>(&got);
        return e ? e->text : std::string("(valid)");
    };
    EXPECT_EQ(reason("<" + l64 + "l@b>"), "Invalid address: local part longer than 64 octets");
    EXPECT_EQ(reason("<a@" + d255 + ".c>"), "Invalid address: domain longer than 255 octets");
    EXPECT_EQ(reason("<" + l64 + "@" + d255.substr(0, 190) + ">"),
              "Invalid address: path longer than 256 octets");
    EXPECT_EQ(reason("<a@" + label63 + "d>"),
              "Invalid address: domain label longer than 63 octets");
    EXPECT_EQ(reason("<a@b"), "Invalid address: missing '>'");
    EXPECT_EQ(reason("<a>"), "Invalid address: missing @domain");
    EXPECT_EQ(reason("<a@>"), "Invalid address: missing domain");
    EXPECT_EQ(reason("<\"a@b>"), "Invalid address: unterminated quoted local part");
    EXPECT_EQ(reason("<a..b@c>"), "Invalid address: misplaced dot in local part");
    EXPECT_EQ(reason("<@a>"), "Invalid address: invalid source route");
    EXPECT_EQ(reason("<a@[1.2.3.256]>"), "Invalid address: invalid address literal");
    EXPECT_EQ(reason("<>", forward), "Invalid address: empty path");
    EXPECT_EQ(reason("<\xc3\xa9@b>"), "SMTPUTF8 required for a non-ASCII address");
    EXPECT_EQ(reason("<\xff@b>"), "Invalid address: malformed UTF-8");
}

TEST(check_mailbox, whole_string_is_one_mailbox) {
    EXPECT_EQ(check_mailbox("a@b", false), std::nullopt);
    EXPECT_EQ(check_mailbox("\"a b\"@[IPv6:::1]", false), std::nullopt);
    EXPECT_EQ(check_mailbox("\xc3\xa9@b", true), std::nullopt);
    EXPECT_EQ(check_mailbox(l64 + "@" + d255.substr(0, 189), false), std::nullopt);

    for (const std::string& bad_mailbox :
         {""s, "a"s, "a@"s, "@b"s, "<a@b>"s, "a@b "s, "a@b>"s, "a@[1.2.3.4]x"s, "a@b\0"s,
          "Postmaster"s, l64 + "@" + d255.substr(0, 190)}) {
        SCOPED_TRACE(escape(bad_mailbox));
        const auto e = check_mailbox(bad_mailbox, false);
        ASSERT_TRUE(e.has_value());
        EXPECT_EQ(e->code, 553);
        EXPECT_EQ(e->enhanced, "5.1.3");
    }
    const auto e = check_mailbox("\xc3\xa9@b", false);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->enhanced, "5.6.7");
}

TEST(utf8_sequence_length, rfc3629_table) {
    struct utf8_case {
        std::string in;
        std::size_t want;
    };
    const std::vector<utf8_case> cases = {
        {"\xc2\x80", 2},
        {"\xdf\xbf", 2},
        {"\xe0\xa0\x80", 3},
        {"\xe1\x80\x80", 3},
        {"\xed\x9f\xbf", 3},
        {"\xee\x80\x80", 3},
        {"\xef\xbf\xbf", 3},
        {"\xf0\x90\x80\x80", 4},
        {"\xf3\xbf\xbf\xbf", 4},
        {"\xf4\x8f\xbf\xbf", 4},
        {"\xc3\xa9xyz", 2},
        // not UTF-8
        {"a", 0},
        {"\x80", 0},
        {"\xbf", 0},
        {"\xc0\x80", 0},
        {"\xc1\xbf", 0},
        {"\xc2", 0},
        {"\xc2\x7f", 0},
        {"\xc2\xc0", 0},
        {"\xe0\x9f\xbf", 0},
        {"\xed\xa0\x80", 0},
        {"\xe1\x80", 0},
        {"\xf0\x8f\xbf\xbf", 0},
        {"\xf4\x90\x80\x80", 0},
        {"\xf5\x80\x80\x80", 0},
        {"\xf8\x88\x80\x80\x80", 0},
        {"\xff", 0},
        {"\xfe", 0},
        {"\xe2\x82", 0},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(escape(c.in));
        EXPECT_EQ(utf8_sequence_length(c.in, 0), c.want);
    }
    // pos is honoured, and a sequence cut by the end of the string is none.
    EXPECT_EQ(utf8_sequence_length("ab\xc3\xa9", 2), 2u);
    EXPECT_EQ(utf8_sequence_length("ab\xc3\xa9", 3), 0u);
    EXPECT_EQ(utf8_sequence_length(std::string_view("\xf0\x9f\x93\xa7", 3), 0), 0u);
}

}  // namespace
}  // namespace submitd::smtp
