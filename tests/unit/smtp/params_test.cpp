// Tests for smtp/params: parse_mail() and parse_rcpt() over tables of valid
// arguments (with the parsed value) and invalid ones (with the reply code
// and enhanced code), hostile inputs included; the formatted lines for the
// relay; the round trip parse -> format -> parse; and xtext vectors.
#include "smtp/params.hpp"

#include <gtest/gtest.h>

#include "split_feed.hpp"

#include <cstdint>
#include <limits>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace submitd::smtp {

// Printers for failure messages (found by GoogleTest through ADL).
void PrintTo(const mail_command& m, std::ostream* os) {
    *os << "<" << m.reverse_path << ">";
    const auto& p = m.params;
    if (p.size) *os << " SIZE=" << *p.size;
    *os << " body=" << static_cast<int>(p.body) << " smtputf8=" << p.smtputf8
        << " ret=" << static_cast<int>(p.ret) << " envid=" << p.envid;
    if (p.auth) *os << " auth=" << *p.auth;
}
void PrintTo(const rcpt_command& r, std::ostream* os) {
    *os << "<" << r.forward_path << "> notify=" << r.params.notify << " orcpt=" << r.params.orcpt;
}

namespace {

using test::escape;

using namespace std::string_literals;

const path_options strict{};
const path_options ws{.whitespace_before_path = true};
const path_options bare{.mailbox_for_path = true};
const path_options lenient{.whitespace_before_path = true, .mailbox_for_path = true};
const path_options utf8{.allow_utf8 = true};

constexpr std::uint64_t max_u64 = std::numeric_limits<std::uint64_t>::max();

/// An expected refusal.
struct refusal {
    int code = 0;
    std::string enhanced;
};
const refusal syntax{501, "5.5.4"};
const refusal unsupported{555, "5.5.4"};
const refusal bad_address{553, "5.1.3"};
const refusal needs_utf8{553, "5.6.7"};

template <class Command>
struct command_case {
    std::string args;
    path_options options;
    Command want;   // when valid
    refusal error;  // code 0: valid
};

using mail_case = command_case<mail_command>;
using rcpt_case = command_case<rcpt_command>;

mail_case mail_ok(std::string args, mail_command want, path_options options = strict) {
    return {std::move(args), options, std::move(want), {}};
}
mail_case mail_bad(std::string args, refusal error, path_options options = strict) {
    return {std::move(args), options, {}, std::move(error)};
}
rcpt_case rcpt_ok(std::string args, rcpt_command want, path_options options = strict) {
    return {std::move(args), options, std::move(want), {}};
}
rcpt_case rcpt_bad(std::string args, refusal error, path_options options = strict) {
    return {std::move(args), options, {}, std::move(error)};
}

mail_command from(std::string path, mail_params params = {}) {
    return {std::move(path), std::move(params)};
}
rcpt_command to(std::string path, rcpt_params params = {}) {
    return {std::move(path), std::move(params)};
}

const std::string x100(100, 'x');
const std::string orcpt500 = "rfc822;" + std::string(493, 'o');

const std::vector<mail_case> mail_cases = {
    // Paths.
    mail_ok("FROM:<a@b>", from("a@b")),
    mail_ok("from:<a@b>", from("a@b")),
    mail_ok("From:<>", from("")),
    mail_ok("FROM:<@a,@b:c@d>", from("c@d")),
    mail_ok(R"(FROM:<"a\"b"@c>)", from(R"("a\"b"@c)")),
    mail_ok("FROM:<a@[IPv6:2001:db8::1]>", from("a@[IPv6:2001:db8::1]")),
    // Separators: one SP by the RFC, more and trailing ones tolerated.
    mail_ok("FROM:<a@b> ", from("a@b")),
    mail_ok("FROM:<a@b>  SIZE=10  ", from("a@b", {.size = 10})),
    mail_ok("FROM:<a@b>\tSIZE=10", from("a@b", {.size = 10})),
    // SIZE.
    mail_ok("FROM:<a@b> SIZE=10", from("a@b", {.size = 10})),
    mail_ok("FROM:<a@b> SIZE=0", from("a@b", {.size = 0})),
    mail_ok("FROM:<a@b> size=00000000000000000010", from("a@b", {.size = 10})),
    mail_ok("FROM:<a@b> SIZE=18446744073709551615", from("a@b", {.size = max_u64})),
    mail_ok("FROM:<a@b> SIZE=18446744073709551616", from("a@b", {.size = max_u64})),
    mail_ok("FROM:<a@b> SIZE=99999999999999999999", from("a@b", {.size = max_u64})),
    // BODY, SMTPUTF8, RET.
    mail_ok("FROM:<a@b> BODY=7BIT", from("a@b", {.body = body_type::seven_bit})),
    mail_ok("FROM:<a@b> BODY=8bitmime", from("a@b", {.body = body_type::eight_bit_mime})),
    mail_ok("FROM:<a@b> body=BinaryMIME", from("a@b", {.body = body_type::binary_mime})),
    mail_ok("FROM:<a@b> SMTPUTF8", from("a@b", {.smtputf8 = true})),
    mail_ok("FROM:<a@b> smtputf8", from("a@b", {.smtputf8 = true})),
    mail_ok("FROM:<a@b> RET=full", from("a@b", {.ret = ret_type::full})),
    mail_ok("FROM:<a@b> RET=HDRS", from("a@b", {.ret = ret_type::hdrs})),
    // ENVID and AUTH stay as sent.
    mail_ok("FROM:<a@b> ENVID=QQ314159", from("a@b", {.envid = "QQ314159"})),
    mail_ok("FROM:<a@b> ENVID=a+2Bb+3dc", from("a@b", {.envid = "a+2Bb+3dc"})),
    mail_ok("FROM:<a@b> ENVID=+20", from("a@b", {.envid = "+20"})),
    mail_ok("FROM:<a@b> ENVID=" + x100, from("a@b", {.envid = x100})),
    mail_ok("FROM:<a@b> AUTH=<>", from("a@b", {.auth = "<>"})),
    mail_ok("FROM:<a@b> AUTH=e+3Dmc2@example.com", from("a@b", {.auth = "e+3Dmc2@example.com"})),
    mail_ok("FROM:<> SIZE=1 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x AUTH=<>",
            from("", {.size = 1,
                      .body = body_type::eight_bit_mime,
                      .smtputf8 = true,
                      .ret = ret_type::hdrs,
                      .envid = "x",
                      .auth = "<>"})),
    mail_ok("FROM:<a@b> AUTH=u ENVID=e RET=FULL SMTPUTF8 BODY=7BIT SIZE=2",
            from("a@b", {.size = 2,
                         .body = body_type::seven_bit,
                         .smtputf8 = true,
                         .ret = ret_type::full,
                         .envid = "e",
                         .auth = "u"})),
    // Dovecot's lenient options.
    mail_ok("FROM: <a@b>", from("a@b"), ws),
    mail_ok("FROM:  \t<a@b> SIZE=1", from("a@b", {.size = 1}), ws),
    mail_ok("FROM:a@b", from("a@b"), bare),
    mail_ok("FROM:a@b SIZE=5", from("a@b", {.size = 5}), bare),
    mail_ok("FROM:<a@b>", from("a@b"), bare),
    mail_ok("FROM:<>", from(""), bare),
    mail_ok("FROM: a@b", from("a@b"), lenient),
    // UTF-8 needs allow_utf8 and SMTPUTF8 on the command.
    mail_ok("FROM:<\xc3\xa9@b> SMTPUTF8", from("\xc3\xa9@b", {.smtputf8 = true}), utf8),
    mail_ok("FROM:<a@\xc3\xa9.b> BODY=8BITMIME SMTPUTF8",
            from("a@\xc3\xa9.b", {.body = body_type::eight_bit_mime, .smtputf8 = true}), utf8),

    // The command's shape: 501.
    mail_bad("", syntax),
    mail_bad("FROM", syntax),
    mail_bad("FROM:", syntax),
    mail_bad("FROM<a@b>", syntax),
    mail_bad("FROM :<a@b>", syntax),
    mail_bad("FROM::<a@b>", syntax),
    mail_bad("TO:<a@b>", syntax),
    mail_bad("FROMA:<a@b>", syntax),
    mail_bad("FROM: <a@b>", syntax),
    mail_bad("FROM:\t<a@b>", syntax),
    mail_bad("FROM: a@b", syntax, bare),
    mail_bad("FROM:a@b", syntax),
    mail_bad("FROM:<a@b>>", syntax),
    mail_bad("FROM:<a@b>SIZE=1", syntax),
    mail_bad("FROM:<a@b>\r\n", syntax),
    mail_bad("FROM:<a@b>\0"s, syntax),
    mail_bad("FROM:<>>", syntax),
    mail_bad("FROM:<><>", syntax),
    mail_bad("FROM:\0<a@b>"s, syntax),
    mail_bad("\xc3\xa9"
             "FROM:<a@b>",
             syntax),
    mail_bad("FROM:a@b>", syntax, bare),
    // The path: 553.
    mail_bad("FROM:<<a@b>", bad_address),
    mail_bad("FROM:<a@b", bad_address),
    mail_bad("FROM:<a@b SIZE=1", bad_address),
    mail_bad("FROM:<\"a@b> SIZE=1", bad_address),
    mail_bad("FROM:<a b@c>", bad_address),
    mail_bad("FROM:<a@b\0>"s, bad_address),
    mail_bad("FROM:<a\r\n@b>", bad_address),
    mail_bad("FROM:<\xff@b>", bad_address),
    mail_bad("FROM:<\xff@b> SMTPUTF8", bad_address, utf8),
    mail_bad("FROM:<Postmaster>", bad_address),
    mail_bad("FROM:<" + std::string(10000, 'a') + "@b>", bad_address),
    mail_bad("FROM:<a@" + std::string(10000, 'b') + ">", bad_address),
    mail_bad("FROM:a b@c", bad_address, bare),
    mail_bad("FROM:<\xc3\xa9@b>", needs_utf8),
    mail_bad("FROM:<\xc3\xa9@b> SMTPUTF8", needs_utf8),
    mail_bad("FROM:<\xc3\xa9@b>", needs_utf8, utf8),
    mail_bad("FROM:<\xc3\xa9@b> SIZE=1", needs_utf8, utf8),
    // Bad values: 501.
    mail_bad("FROM:<a@b> SIZE", syntax),
    mail_bad("FROM:<a@b> SIZE=", syntax),
    mail_bad("FROM:<a@b> SIZE=-1", syntax),
    mail_bad("FROM:<a@b> SIZE=+1", syntax),
    mail_bad("FROM:<a@b> SIZE=1x", syntax),
    mail_bad("FROM:<a@b> SIZE=0x10", syntax),
    mail_bad("FROM:<a@b> SIZE=1.5", syntax),
    mail_bad("FROM:<a@b> SIZE=1=1", syntax),
    mail_bad("FROM:<a@b> SIZE=99999999999999999999999", syntax),
    mail_bad("FROM:<a@b> SIZE=000000000000000000001", syntax),
    mail_bad("FROM:<a@b> SIZE=\xd9\xa1", syntax),
    mail_bad("FROM:<a@b> BODY", syntax),
    mail_bad("FROM:<a@b> BODY=", syntax),
    mail_bad("FROM:<a@b> BODY=9BIT", syntax),
    mail_bad("FROM:<a@b> BODY=8BITMIMEX", syntax),
    mail_bad("FROM:<a@b> SMTPUTF8=yes", syntax),
    mail_bad("FROM:<a@b> SMTPUTF8=", syntax),
    mail_bad("FROM:<a@b> RET", syntax),
    mail_bad("FROM:<a@b> RET=NONE", syntax),
    mail_bad("FROM:<a@b> ENVID", syntax),
    mail_bad("FROM:<a@b> ENVID=", syntax),
    mail_bad("FROM:<a@b> ENVID=a=b", syntax),
    mail_bad("FROM:<a@b> ENVID=a+2", syntax),
    mail_bad("FROM:<a@b> ENVID=a+ZZ", syntax),
    mail_bad("FROM:<a@b> ENVID=a+0A", syntax),  // decodes to a LF
    mail_bad("FROM:<a@b> ENVID=+00", syntax),
    mail_bad("FROM:<a@b> ENVID=+C3+A9", syntax),
    mail_bad("FROM:<a@b> ENVID=\xc3\xa9", syntax),
    mail_bad("FROM:<a@b> ENVID=" + x100 + "x", syntax),
    mail_bad("FROM:<a@b> AUTH", syntax),
    mail_bad("FROM:<a@b> AUTH=", syntax),
    mail_bad("FROM:<a@b> AUTH=a+00", syntax),
    mail_bad("FROM:<a@b> AUTH=<a@b>x=", syntax),
    // Parameter syntax: 501.
    mail_bad("FROM:<a@b> =1", syntax),
    mail_bad("FROM:<a@b> -X", syntax),
    mail_bad("FROM:<a@b> SI_ZE=1", syntax),
    mail_bad("FROM:<a@b> SIZE\0=1"s, syntax),
    mail_bad("FROM:<a@b> SIZE=1\0"s, syntax),
    mail_bad("FROM:<a@b> SIZE=1\r\n", syntax),
    mail_bad("FROM:<a@b> \xc3\xa9", syntax),
    // Unknown: 555, checked before the value.
    mail_bad("FROM:<a@b> FOO=bar", unsupported),
    mail_bad("FROM:<a@b> X-FOO", unsupported),
    mail_bad("FROM:<a@b> NOTIFY=NEVER", unsupported),
    mail_bad("FROM:<a@b> ORCPT=rfc822;a@b", unsupported),
    mail_bad("FROM:<a@b> SIZE=1 FOO", unsupported),
    mail_bad("FROM:<a@b> FOO SIZE=x", unsupported),
    mail_bad("FROM:<a@b> " + std::string(400, 'K'), unsupported),
    // Duplicates: 501, before the value.
    mail_bad("FROM:<a@b> SIZE=1 SIZE=2", syntax),
    mail_bad("FROM:<a@b> size=1 SIZE=1", syntax),
    mail_bad("FROM:<a@b> SIZE=1 SIZE=x", syntax),
    mail_bad("FROM:<a@b> SMTPUTF8 SMTPUTF8", syntax),
    mail_bad("FROM:<a@b> BODY=7BIT BODY=8BITMIME", syntax),
    mail_bad("FROM:<a@b> AUTH=<> AUTH=<>", syntax),
};

const std::vector<rcpt_case> rcpt_cases = {
    rcpt_ok("TO:<a@b>", to("a@b")),
    rcpt_ok("to:<a@b>", to("a@b")),
    rcpt_ok("TO:<Postmaster>", to("Postmaster")),
    rcpt_ok("TO:<postmaster> NOTIFY=NEVER", to("postmaster", {.notify = notify_never})),
    rcpt_ok("TO:<Postmaster@example.org>", to("Postmaster@example.org")),
    rcpt_ok("TO:<@x,@y:a@b>", to("a@b")),
    rcpt_ok("TO:<a@b>  ", to("a@b")),
    // NOTIFY.
    rcpt_ok("TO:<a@b> NOTIFY=NEVER", to("a@b", {.notify = notify_never})),
    rcpt_ok("TO:<a@b> NOTIFY=never", to("a@b", {.notify = notify_never})),
    rcpt_ok("TO:<a@b> NOTIFY=SUCCESS", to("a@b", {.notify = notify_success})),
    rcpt_ok("TO:<a@b> NOTIFY=SUCCESS,FAILURE,DELAY",
            to("a@b", {.notify = notify_success | notify_failure | notify_delay})),
    rcpt_ok("TO:<a@b> notify=delay,Success", to("a@b", {.notify = notify_success | notify_delay})),
    rcpt_ok("TO:<a@b> NOTIFY=FAILURE,FAILURE", to("a@b", {.notify = notify_failure})),
    rcpt_ok("TO:<a@b> NOTIFY=NEVER,NEVER", to("a@b", {.notify = notify_never})),
    // ORCPT stays as sent.
    rcpt_ok("TO:<a@b> ORCPT=rfc822;a@b", to("a@b", {.orcpt = "rfc822;a@b"})),
    rcpt_ok("TO:<a@b> ORCPT=RFC822;a+2Bb@c", to("a@b", {.orcpt = "RFC822;a+2Bb@c"})),
    rcpt_ok("TO:<a@b> ORCPT=rfc822;+20", to("a@b", {.orcpt = "rfc822;+20"})),
    rcpt_ok("TO:<a@b> ORCPT=x-type;a;b", to("a@b", {.orcpt = "x-type;a;b"})),
    rcpt_ok("TO:<a@b> ORCPT=" + orcpt500, to("a@b", {.orcpt = orcpt500})),
    rcpt_ok("TO:<a@b> ORCPT=utf-8;a\\x{E9}@b", to("a@b", {.orcpt = "utf-8;a\\x{E9}@b"})),
    rcpt_ok("TO:<a@b> ORCPT=UTF-8;\xc3\xa9@b", to("a@b", {.orcpt = "UTF-8;\xc3\xa9@b"}), utf8),
    rcpt_ok("TO:<a@b> NOTIFY=SUCCESS ORCPT=rfc822;a@b",
            to("a@b", {.notify = notify_success, .orcpt = "rfc822;a@b"})),
    rcpt_ok("TO:<a@b> ORCPT=rfc822;a@b NOTIFY=DELAY",
            to("a@b", {.notify = notify_delay, .orcpt = "rfc822;a@b"})),
    // Lenient options and UTF-8 (allow_utf8 says the transaction has SMTPUTF8).
    rcpt_ok("TO: <a@b>", to("a@b"), ws),
    rcpt_ok("TO:a@b NOTIFY=NEVER", to("a@b", {.notify = notify_never}), bare),
    rcpt_ok("TO:postmaster", to("postmaster"), bare),
    rcpt_ok("TO: Postmaster NOTIFY=NEVER", to("Postmaster", {.notify = notify_never}), lenient),
    rcpt_ok("TO:<\xc3\xa9@\xc3\xa9.b>", to("\xc3\xa9@\xc3\xa9.b"), utf8),

    rcpt_bad("", syntax),
    rcpt_bad("TO:", syntax),
    rcpt_bad("TO", syntax),
    rcpt_bad("FROM:<a@b>", syntax),
    rcpt_bad("TO: <a@b>", syntax),
    rcpt_bad("TO:a@b", syntax),
    rcpt_bad("TO:<a@b>>", syntax),
    rcpt_bad("TO:<a@b>NOTIFY=NEVER", syntax),
    rcpt_bad("TO:<>", bad_address),
    rcpt_bad("TO:<<a@b>", bad_address),
    rcpt_bad("TO:<Postmaster", bad_address),
    rcpt_bad("TO:<\xc3\xa9@b>", needs_utf8),
    rcpt_bad("TO:<a@b> SIZE=1", unsupported),
    rcpt_bad("TO:<a@b> SMTPUTF8", unsupported),
    rcpt_bad("TO:<a@b> NOTIFY", syntax),
    rcpt_bad("TO:<a@b> NOTIFY=", syntax),
    rcpt_bad("TO:<a@b> NOTIFY=NEVER,SUCCESS", syntax),
    rcpt_bad("TO:<a@b> NOTIFY=DELAY,NEVER", syntax),
    rcpt_bad("TO:<a@b> NOTIFY=SUCCESS,", syntax),
    rcpt_bad("TO:<a@b> NOTIFY=,SUCCESS", syntax),
    rcpt_bad("TO:<a@b> NOTIFY=SUCCESS,,DELAY", syntax),
    rcpt_bad("TO:<a@b> NOTIFY=SOMETIMES", syntax),
    rcpt_bad("TO:<a@b> NOTIFY=SUCCESS;FAILURE", syntax),
    rcpt_bad("TO:<a@b> NOTIFY=NEVER NOTIFY=NEVER", syntax),
    rcpt_bad("TO:<a@b> ORCPT", syntax),
    rcpt_bad("TO:<a@b> ORCPT=", syntax),
    rcpt_bad("TO:<a@b> ORCPT=a@b", syntax),
    rcpt_bad("TO:<a@b> ORCPT=;a@b", syntax),
    rcpt_bad("TO:<a@b> ORCPT=rfc822;", syntax),
    rcpt_bad("TO:<a@b> ORCPT=rfc822;a=b", syntax),
    rcpt_bad("TO:<a@b> ORCPT=rfc822;a+0D+0A", syntax),
    rcpt_bad("TO:<a@b> ORCPT=rfc822;a+2", syntax),
    rcpt_bad("TO:<a@b> ORCPT=rf(c;a", syntax),
    rcpt_bad("TO:<a@b> ORCPT=rfc.822;a", syntax),
    rcpt_bad("TO:<a@b> ORCPT=" + orcpt500 + "o", syntax),
    rcpt_bad("TO:<a@b> ORCPT=rfc822;\xc3\xa9@b", syntax, utf8),
    rcpt_bad("TO:<a@b> ORCPT=utf-8;\xc3\xa9@b", syntax),
    rcpt_bad("TO:<a@b> ORCPT=utf-8;\xff@b", syntax, utf8),
    rcpt_bad("TO:<a@b> ORCPT=utf-8;a+00", syntax, utf8),
    rcpt_bad("TO:<a@b> ORCPT=rfc822;a@b ORCPT=rfc822;a@b", syntax),
    rcpt_bad("TO:<a@b> NOTIFY=NEVER\0"s, syntax),
};

template <class Command, class Parse>
void run_table(const std::vector<command_case<Command>>& cases, Parse parse) {
    for (const auto& c : cases) {
        SCOPED_TRACE(
            "args \"" + escape(c.args) + "\"" + (c.options.whitespace_before_path ? " ws" : "") +
            (c.options.mailbox_for_path ? " bare" : "") + (c.options.allow_utf8 ? " utf8" : ""));
        const auto got = parse(c.args, c.options);
        if (c.error.code == 0) {
            if (const auto* e = std::get_if<syntax_error>(&got)) {
                ADD_FAILURE() << "got " << e->code << " " << e->enhanced << " " << e->text;
                continue;
            }
            EXPECT_EQ(std::get<Command>(got), c.want);
        } else {
            if (std::holds_alternative<Command>(got)) {
                ADD_FAILURE() << "got " << ::testing::PrintToString(std::get<Command>(got));
                continue;
            }
            const auto& e = std::get<syntax_error>(got);
            EXPECT_EQ(e.code, c.error.code) << e.text;
            EXPECT_EQ(e.enhanced, c.error.enhanced) << e.text;
            EXPECT_FALSE(e.text.empty());
            EXPECT_LE(e.text.size(), 100u) << e.text;
            for (const char ch : e.text) {
                const auto u = static_cast<unsigned char>(ch);
                EXPECT_TRUE(u >= 0x20 && u < 0x7f) << "reply text has byte " << int{u};
            }
        }
    }
}

TEST(parse_mail, table) {
    run_table(mail_cases, parse_mail);
}

TEST(parse_rcpt, table) {
    run_table(rcpt_cases, parse_rcpt);
}

std::string error_text(const std::variant<mail_command, syntax_error>& r) {
    const auto* e = std::get_if<syntax_error>(&r);
    return e ? e->text : "(valid)";
}
std::string error_text(const std::variant<rcpt_command, syntax_error>& r) {
    const auto* e = std::get_if<syntax_error>(&r);
    return e ? e->text : "(valid)";
}

TEST(parse_mail, reply_texts) {
    EXPECT_EQ(error_text(parse_mail("FROM: <a@b>", strict)),
              "Syntax: MAIL FROM:<address> [parameters]");
    EXPECT_EQ(error_text(parse_mail("FROM:<a@b> FOO=1", strict)), "Unsupported parameter FOO");
    EXPECT_EQ(error_text(parse_mail("FROM:<a@b> x-foo", strict)), "Unsupported parameter X-FOO");
    EXPECT_EQ(error_text(parse_mail("FROM:<a@b> " + std::string(40, 'k'), strict)),
              "Unsupported parameter " + std::string(32, 'K') + "...");
    EXPECT_EQ(error_text(parse_mail("FROM:<a@b> SIZE=1 size=2", strict)),
              "Duplicate parameter SIZE");
    EXPECT_EQ(error_text(parse_mail("FROM:<a@b> SIZE=-1", strict)),
              "Bad SIZE parameter: not a number");
    EXPECT_EQ(error_text(parse_mail("FROM:<a@b> SMTPUTF8=1", strict)),
              "Bad SMTPUTF8 parameter: takes no value");
    EXPECT_EQ(error_text(parse_mail("FROM:<a@b> ENVID=" + x100 + "x", strict)),
              "Bad ENVID parameter: longer than 100 characters");
    EXPECT_EQ(error_text(parse_mail("FROM:<\xc3\xa9@b>", utf8)),
              "SMTPUTF8 required for a non-ASCII address");
    EXPECT_EQ(error_text(parse_mail("FROM:<a@b c>", strict)),
              "Invalid address: invalid character in domain");
    EXPECT_EQ(error_text(parse_rcpt("TO:<a@b>", strict)), "(valid)");
    EXPECT_EQ(error_text(parse_rcpt("TO:<a@b> NOTIFY=NEVER,DELAY", strict)),
              "Bad NOTIFY parameter: NEVER must stand alone");
    EXPECT_EQ(error_text(parse_rcpt("TO:<a@b> SIZE=1", strict)), "Unsupported parameter SIZE");
}

TEST(format_mail, lines_for_the_relay) {
    const auto parsed = [](std::string_view args) {
        return std::get<mail_command>(parse_mail(args, lenient));
    };
    EXPECT_EQ(format_mail(parsed("FROM:<a@b>"), std::nullopt), "MAIL FROM:<a@b>");
    EXPECT_EQ(format_mail(parsed("from:<>"), std::nullopt), "MAIL FROM:<>");
    EXPECT_EQ(format_mail(parsed("FROM:<@x,@y:a@b>"), std::nullopt), "MAIL FROM:<a@b>");
    EXPECT_EQ(format_mail(parsed("FROM: a@b  size=0010\t"), std::nullopt),
              "MAIL FROM:<a@b> SIZE=10");
    EXPECT_EQ(format_mail(parsed("FROM:<a@b> auth=x ENVID=e+2B ret=hdrs smtputf8 "
                                 "body=8bitmime SIZE=99999999999999999999"),
                          std::nullopt),
              "MAIL FROM:<a@b> SIZE=18446744073709551615 BODY=8BITMIME SMTPUTF8 RET=HDRS "
              "ENVID=e+2B");
    // The client's AUTH= never passes; the caller's replaces it.
    EXPECT_EQ(format_mail(parsed("FROM:<a@b> AUTH=evil+40x"), "user+40example.org"),
              "MAIL FROM:<a@b> AUTH=user+40example.org");
    EXPECT_EQ(format_mail(parsed("FROM:<a@b> BODY=BINARYMIME"), "<>"),
              "MAIL FROM:<a@b> BODY=BINARYMIME AUTH=<>");
    EXPECT_EQ(format_mail(parsed("FROM:<a@b> BODY=7bit RET=full"), std::nullopt),
              "MAIL FROM:<a@b> BODY=7BIT RET=FULL");
}

TEST(format_rcpt, lines_for_the_relay) {
    const auto parsed = [](std::string_view args) {
        return std::get<rcpt_command>(parse_rcpt(args, lenient));
    };
    EXPECT_EQ(format_rcpt(parsed("TO:<a@b>")), "RCPT TO:<a@b>");
    EXPECT_EQ(format_rcpt(parsed("to:<postmaster>")), "RCPT TO:<postmaster>");
    EXPECT_EQ(format_rcpt(parsed("TO:<@x:a@b>")), "RCPT TO:<a@b>");
    EXPECT_EQ(format_rcpt(parsed("TO:a@b notify=never")), "RCPT TO:<a@b> NOTIFY=NEVER");
    EXPECT_EQ(format_rcpt(parsed("TO:<a@b> ORCPT=rfc822;x+2By@z notify=delay,failure,success")),
              "RCPT TO:<a@b> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;x+2By@z");
}

TEST(format_mail, round_trip_of_every_valid_case) {
    for (const auto& c : mail_cases) {
        if (c.error.code != 0) continue;
        SCOPED_TRACE("args \"" + escape(c.args) + "\"");
        const auto first = std::get<mail_command>(parse_mail(c.args, c.options));
        const std::string line = format_mail(first, first.params.auth);
        ASSERT_EQ(line.rfind("MAIL ", 0), 0u);
        EXPECT_EQ(line.find_first_of("\r\n"s + '\0'), std::string::npos);
        // Written strictly, so it parses without the lenient options.
        const path_options back{.allow_utf8 = c.options.allow_utf8};
        const auto again = parse_mail(std::string_view(line).substr(5), back);
        ASSERT_TRUE(std::holds_alternative<mail_command>(again))
            << line << ": " << error_text(again);
        EXPECT_EQ(std::get<mail_command>(again), first) << line;
    }
}

TEST(format_rcpt, round_trip_of_every_valid_case) {
    for (const auto& c : rcpt_cases) {
        if (c.error.code != 0) continue;
        SCOPED_TRACE("args \"" + escape(c.args) + "\"");
        const auto first = std::get<rcpt_command>(parse_rcpt(c.args, c.options));
        const std::string line = format_rcpt(first);
        ASSERT_EQ(line.rfind("RCPT ", 0), 0u);
        EXPECT_EQ(line.find_first_of("\r\n"s + '\0'), std::string::npos);
        const path_options back{.allow_utf8 = c.options.allow_utf8};
        const auto again = parse_rcpt(std::string_view(line).substr(5), back);
        ASSERT_TRUE(std::holds_alternative<rcpt_command>(again))
            << line << ": " << error_text(again);
        EXPECT_EQ(std::get<rcpt_command>(again), first) << line;
    }
}

TEST(parse_bdat_size, digits_only_and_64_bits) {
    EXPECT_EQ(parse_bdat_size("0"), 0u);
    EXPECT_EQ(parse_bdat_size("007"), 7u);
    EXPECT_EQ(parse_bdat_size("18446744073709551615"), 18446744073709551615ull);
    for (std::string_view bad : {"", "-1", "+5", "1e3", "0x10", " 5", "5 ", "18446744073709551616",
                                 "000000000000000000001", "99999999999999999999999"}) {
        EXPECT_FALSE(parse_bdat_size(bad)) << bad;
    }
    EXPECT_FALSE(parse_bdat_size(std::string_view("1\0", 2)));
}

TEST(xtext, vectors) {
    struct xtext_case {
        std::string plain;
        std::string encoded;
    };
    // RFC 3461 section 4: "!" to "~" except "+" and "=" stand for themselves.
    const std::vector<xtext_case> cases = {
        {"", ""},
        {"a", "a"},
        {"user@example.org", "user@example.org"},
        {"a+b=c", "a+2Bb+3Dc"},
        {" ", "+20"},
        {"a b", "a+20b"},
        {"\r\n", "+0D+0A"},
        {"\0"s, "+00"},
        {"\x7f", "+7F"},
        {"\xff", "+FF"},
        {"\xc3\xa9", "+C3+A9"},
        {"!~<>\\\"", "!~<>\\\""},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(escape(c.plain));
        EXPECT_EQ(xtext_encode(c.plain), c.encoded);
        EXPECT_EQ(xtext_decode(c.encoded), c.plain);
    }
    // Every byte survives the round trip.
    std::string all;
    for (int b = 0; b < 256; ++b)
        all.push_back(static_cast<char>(b));
    EXPECT_EQ(xtext_decode(xtext_encode(all)), all);
    EXPECT_EQ(xtext_encode(all).size(), 94u - 2u + (256u - 94u + 2u) * 3u);

    // Lower-case hex digits are read too.
    EXPECT_EQ(xtext_decode("a+2bb+3dc"), "a+b=c");
    EXPECT_EQ(xtext_decode("+c3+A9"), "\xc3\xa9");

    for (const std::string& bad : {"+"s, "+2"s, "a+"s, "+G0"s, "+0G"s, "+ 20"s, "a=b"s, "="s,
                                   "a b"s, "\t"s, "\x7f"s, "\xc3\xa9"s, "a\0"s, "\r\n"s}) {
        SCOPED_TRACE(escape(bad));
        EXPECT_EQ(xtext_decode(bad), std::nullopt);
    }
}

}  // namespace
}  // namespace submitd::smtp
