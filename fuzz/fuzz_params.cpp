// libFuzzer target for smtp/address and smtp/params: the input is the
// argument string of a MAIL or a RCPT command (what follows the verb). It
// goes to parse_mail() and parse_rcpt() under every combination of the path
// options. Every success is formatted for the relay, which must give a line
// without CR, LF or NUL that parses back, under the strict options, to the
// same value; a success under some options must also be one, with the same
// value, under every more lenient set. Every refusal must be a 501, 553 or
// 555 with printable text. xtext must round-trip. Any difference traps.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "smtp/params.hpp"

namespace {

namespace smtp = submitd::smtp;

void check(bool ok) {
    if (!ok) __builtin_trap();
}

smtp::path_options options_from(unsigned bits) {
    return {(bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0};
}

void check_error(const smtp::syntax_error& e) {
    check(e.code == 501 || e.code == 553 || e.code == 555);
    check(e.enhanced == "5.5.4" || e.enhanced == "5.1.3" || e.enhanced == "5.6.7");
    check(!e.text.empty() && e.text.size() <= 128);
    for (const char c : e.text)
        check(c >= 0x20 && c < 0x7f);
}

void check_line(std::string_view line, std::string_view verb) {
    check(line.substr(0, verb.size()) == verb);
    check(line.find_first_of(std::string_view("\r\n\0", 3)) == line.npos);
}

/// A reverse- or forward-path as parsed: a mailbox, or "<>" / Postmaster.
void check_path(const std::string& path, bool allow_utf8, bool is_mail) {
    if (path.empty()) {
        check(is_mail);
        return;
    }
    if (!is_mail && path.find('@') == path.npos) {  // "Postmaster", in any case
        check(path.size() == 10);
        for (std::size_t i = 0; i < path.size(); ++i)
            check((path[i] | 0x20) == "postmaster"[i]);
        return;
    }
    check(!smtp::check_mailbox(path, allow_utf8).has_value());
}

/// Parses under all eight option sets; successes must agree and survive
/// format and re-parse.
template <class Command, class Parse, class Format>
void run(std::string_view args, Parse parse, Format format, std::string_view verb) {
    std::optional<Command> first[8];
    for (unsigned bits = 0; bits < 8; ++bits) {
        const auto options = options_from(bits);
        const auto result = parse(args, options);
        if (const auto* e = std::get_if<smtp::syntax_error>(&result)) {
            check_error(*e);
            continue;
        }
        const Command& cmd = std::get<Command>(result);
        first[bits] = cmd;

        const std::string line = format(cmd);
        check_line(line, verb);
        const smtp::path_options strict{false, false, options.allow_utf8};
        const auto again = parse(std::string_view(line).substr(5), strict);
        check(std::holds_alternative<Command>(again));
        check(std::get<Command>(again) == cmd);
    }
    // More lenient options never refuse or change what stricter ones took.
    for (unsigned a = 0; a < 8; ++a) {
        for (unsigned b = 0; b < 8; ++b) {
            if ((a & b) == a && first[a]) check(first[b] == first[a]);
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);

    run<smtp::mail_command>(
        in,
        [](std::string_view args, const smtp::path_options& o) {
            auto r = smtp::parse_mail(args, o);
            if (auto* m = std::get_if<smtp::mail_command>(&r)) {
                check_path(m->reverse_path, o.allow_utf8, true);
            }
            return r;
        },
        [](const smtp::mail_command& m) { return smtp::format_mail(m, m.params.auth); }, "MAIL ");
    run<smtp::rcpt_command>(
        in,
        [](std::string_view args, const smtp::path_options& o) {
            auto r = smtp::parse_rcpt(args, o);
            if (auto* c = std::get_if<smtp::rcpt_command>(&r)) {
                check_path(c->forward_path, o.allow_utf8, false);
            }
            return r;
        },
        [](const smtp::rcpt_command& r) { return smtp::format_rcpt(r); }, "RCPT ");

    // The AUTH= override: any login, xtext-encoded, goes out and parses back.
    const std::string login = smtp::xtext_encode(in);
    check(smtp::xtext_decode(login) == std::string(in));
    if (!login.empty()) {
        const smtp::mail_command null_sender{};
        const std::string line = smtp::format_mail(null_sender, login);
        check_line(line, "MAIL ");
        const auto back = smtp::parse_mail(std::string_view(line).substr(5), {});
        // RFC 4954 wants printable US-ASCII once decoded; anything else is refused.
        bool printable = true;
        for (const char c : in)
            printable = printable && c >= 0x20 && c < 0x7f;
        const auto* m = std::get_if<smtp::mail_command>(&back);
        check(printable ? m != nullptr && m->params.auth == login : m == nullptr);
    }

    // xtext: whatever decodes re-encodes to something that decodes the same.
    if (const auto decoded = smtp::xtext_decode(in)) {
        check(smtp::xtext_decode(smtp::xtext_encode(*decoded)) == decoded);
    }
    return 0;
}
