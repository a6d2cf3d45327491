// PLAIN (RFC 4616) and the identity and password rules it shares with LOGIN.
// One message carries everything:
//
//   message   = [authzid] UTF8NUL authcid UTF8NUL passwd   (RFC 4616 section 2)
//   authcid   = 1*SAFE ; MUST accept up to 255 octets
//   authzid   = 1*SAFE ; MUST accept up to 255 octets
//   passwd    = 1*SAFE ; MUST accept up to 255 octets
//
// We accept exactly two NULs, so a NUL smuggled into the password cannot cut it
// short somewhere else. We do not SASLprep: identities must be well-formed UTF-8
// with no control characters; the password may be any bytes but NUL (clients
// still send Latin-1 passwords) and goes to the authenticator as sent.
// Errors: bad_syntax with a reason naming the field, never quoting the password.
#include "sasl/mech_plain.hpp"

#include <cassert>
#include <cstdint>
#include <utility>

namespace submitd::sasl {
namespace {

enum class text_problem { none, invalid_utf8, control };

// RFC 3629 section 4 (UTF8-octets): overlong forms, surrogates and code points
// past U+10FFFF are refused. Control characters (Unicode category Cc: C0, DEL
// and C1, the ones SASLprep prohibits in RFC 4013 section 2.3) are refused too,
// because identities end up in log lines, in the relay's XCLIENT LOGIN and in
// headers, where a CR or LF an attacker chose would start a new line.
text_problem check_text(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto lead = static_cast<unsigned char>(s[i]);
        if (lead < 0x80) {
            if (lead < 0x20 || lead == 0x7f) return text_problem::control;
            ++i;
            continue;
        }
        std::size_t length = 0;
        std::uint32_t code_point = 0;
        std::uint32_t lowest = 0;
        if (lead >= 0xc2 && lead <= 0xdf) {
            length = 2;
            code_point = lead & 0x1fU;
            lowest = 0x80;
        } else if (lead >= 0xe0 && lead <= 0xef) {
            length = 3;
            code_point = lead & 0x0fU;
            lowest = 0x800;
        } else if (lead >= 0xf0 && lead <= 0xf4) {
            length = 4;
            code_point = lead & 0x07U;
            lowest = 0x10000;
        } else {
            return text_problem::invalid_utf8;
        }
        if (s.size() - i < length) return text_problem::invalid_utf8;
        for (std::size_t k = 1; k < length; ++k) {
            const auto trail = static_cast<unsigned char>(s[i + k]);
            if ((trail & 0xc0U) != 0x80) return text_problem::invalid_utf8;
            code_point = code_point << 6 | (trail & 0x3fU);
        }
        if (code_point < lowest || code_point > 0x10ffff ||
            (code_point >= 0xd800 && code_point <= 0xdfff))
            return text_problem::invalid_utf8;
        if (code_point <= 0x9f) return text_problem::control;
        i += length;
    }
    return text_problem::none;
}

}  // namespace

std::optional<std::string> check_identity(std::string_view field, std::string_view value) {
    if (value.empty()) return "empty " + std::string(field);
    if (value.size() > max_identity_length) return std::string(field) + " too long";
    switch (check_text(value)) {
        case text_problem::none:
            return std::nullopt;
        case text_problem::invalid_utf8:
            return std::string(field) + " is not valid UTF-8";
        case text_problem::control:
            return std::string(field) + " contains a control character";
    }
    return std::string(field) + " is not valid";
}

std::optional<std::string> check_password(std::string_view value) {
    if (value.empty()) return "empty password";
    if (value.size() > max_password_length) return "password too long";
    if (value.find('\0') != std::string_view::npos) return "password contains NUL";
    return std::nullopt;
}

step_result plain_mechanism::start(std::optional<std::string_view> initial) {
    if (state_ != state::initial) return fail("PLAIN started twice");
    // RFC 4422 section 5: without an initial response the server sends an
    // empty challenge ("334 " on the wire) and the client answers it.
    if (!initial) {
        state_ = state::awaiting_response;
        return {step_status::challenge, {}, {}};
    }
    return parse(*initial);
}

step_result plain_mechanism::step(std::string_view response) {
    if (state_ != state::awaiting_response) return fail("unexpected PLAIN response");
    return parse(response);
}

credentials plain_mechanism::take_credentials() {
    assert(state_ == state::done);
    state_ = state::closed;
    return std::move(credentials_);
}

step_result plain_mechanism::parse(std::string_view message) {
    constexpr auto npos = std::string_view::npos;
    const std::size_t first = message.find('\0');
    const std::size_t second = first == npos ? npos : message.find('\0', first + 1);
    if (second == npos || message.find('\0', second + 1) != npos)
        return fail("PLAIN message needs exactly two NUL separators");

    const std::string_view authzid = message.substr(0, first);
    const std::string_view authcid = message.substr(first + 1, second - first - 1);
    const std::string_view password = message.substr(second + 1);
    if (!authzid.empty()) {
        if (auto reason = check_identity("authzid", authzid)) return fail(std::move(*reason));
    }
    if (auto reason = check_identity("authcid", authcid)) return fail(std::move(*reason));
    if (auto reason = check_password(password)) return fail(std::move(*reason));

    credentials_.authzid = std::string(authzid);
    credentials_.authcid = std::string(authcid);
    // Straight from the caller's buffer into the secret: no temporary copy.
    credentials_.password = core::secret_string(password);
    state_ = state::done;
    return {step_status::done, {}, {}};
}

step_result plain_mechanism::fail(std::string reason) {
    state_ = state::closed;
    credentials_.password.clear();
    return {step_status::bad_syntax, {}, std::move(reason)};
}

}  // namespace submitd::sasl
