// The opening of a relay connection (see handshake.hpp): greeting, EHLO,
// STARTTLS (RFC 3207), AUTH PLAIN (RFC 4954, RFC 4616) and Postfix's XCLIENT
// (XCLIENT_README), each command waiting for its reply before the next. It
// does no I/O and never logs: the driver logs failure(). The relay password
// is read once, when the AUTH line is built, and every copy of it is wiped.
#include "relay/handshake.hpp"

#include <array>
#include <cassert>
#include <string_view>
#include <utility>

#include "core/ascii.hpp"
#include "core/base64.hpp"

namespace submitd::relay {
namespace {

// RFC 5321 section 4.5.3.1.4: a command line is at most 512 octets with its
// CRLF. XCLIENT_README repeats it ("must not send XCLIENT commands that
// exceed the 512 character limit") and suggests several XCLIENT commands.
constexpr std::size_t max_command_line = 512;

using core::iequals;

bool contains(const std::vector<std::string>& list, std::string_view word) {
    for (const auto& w : list) {
        if (w == word) return true;
    }
    return false;
}

/// An EHLO argument we can send as is: 1 to 255 printable ASCII bytes, no space.
bool is_valid_helo_name(std::string_view name) {
    if (name.empty() || name.size() > 255) return false;
    for (const char c : name) {
        if (c <= ' ' || c > '~') return false;
    }
    return true;
}

/// RFC 3461 section 4 (xtext, which XCLIENT_README points to as RFC 1891):
///   xtext = *( xchar / hexchar )
///   xchar = any ASCII CHAR between "!" (33) and "~" (126) inclusive,
///           except for "+" and "="
///   hexchar = "+" 2(%x30-39 / %x41-46)
std::string xtext(std::string_view value) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if (u >= 33 && u <= 126 && c != '+' && c != '=') {
            out += c;
        } else {
            out += '+';
            out += hex[u >> 4];
            out += hex[u & 0xf];
        }
    }
    return out;
}

/// XCLIENT_README: "an IPv6 address prefixed with IPV6:", "not enclosed with []".
std::string xclient_address(std::string_view addr) {
    if (addr.size() >= 2 && addr.front() == '[' && addr.back() == ']')
        addr = addr.substr(1, addr.size() - 2);
    if (addr.find(':') == std::string_view::npos || iequals(addr.substr(0, 5), "IPV6:"))
        return std::string(addr);
    return "IPV6:" + std::string(addr);
}

}  // namespace

handshake::handshake(handshake_settings settings, std::optional<xclient_facts> xclient)
    : settings_(std::move(settings)), xclient_(std::move(xclient)) {}

void handshake::clear_output() {
    core::wipe(out_.value);
}

handshake_step handshake::start() {
    assert(state_ == state::initial);
    state_ = state::greeting;
    tls_done_ = settings_.tls != relay_tls::starttls;
    if (!is_valid_helo_name(settings_.helo_name)) {
        state_ = state::ehlo;
        return fail(std::nullopt, "the EHLO name in the configuration is not valid");
    }
    return handshake_step::read;
}

handshake_step handshake::on_input(std::span<const char> in, std::size_t& consumed) {
    consumed = 0;
    switch (state_) {
        case state::done:
            return handshake_step::done;
        case state::failed:
            return handshake_step::failed;
        case state::tls_handshake:
            return handshake_step::start_tls;
        case state::initial:
            assert(false && "on_input() before start()");
            return handshake_step::read;
        default:
            break;
    }
    // The previous call's output has been written (handshake.hpp): wipe it
    // before anything else is built, whatever the driver did with it.
    core::wipe(out_.value);
    const reply_result r = parser_.parse(in);
    consumed = r.consumed;
    switch (r.status) {
        case reply_status::need_more:
            return handshake_step::read;
        case reply_status::bad_reply:
            return fail(std::nullopt, "malformed reply from the relay: " + parser_.error());
        case reply_status::complete:
            break;
    }
    return on_reply(parser_.take(), in, consumed);
}

handshake_step handshake::on_reply(reply&& r, std::span<const char> in, std::size_t& consumed) {
    if (r.code == 421) return fail(std::move(r), "the relay is closing the connection");
    switch (state_) {
        case state::greeting: {
            // RFC 5321 section 4.3.2: 220 or 554 (and 421, above). The first
            // word after 220 is the relay's name (section 4.2, Greeting).
            if (r.code != 220) return fail(std::move(r), "the relay refused the connection");
            const std::string_view first = r.lines.front();
            greeting_name_ = std::string(first.substr(0, first.find_first_of(" \t")));
            return send_ehlo();
        }
        case state::ehlo:
            if (r.code != 250) return fail(std::move(r), "the relay refused EHLO");
            caps_ = parse_ehlo(r);
            return next_command();
        case state::starttls:
            if (r.code != 220) return fail(std::move(r), "the relay refused STARTTLS");
            // Whatever came after the 220 was sent in plaintext and must not
            // be taken for a reply once TLS is on.
            consumed = in.size();
            parser_.reset();
            state_ = state::tls_handshake;
            return handshake_step::start_tls;
        case state::auth:
            if (r.code != 235) return fail(std::move(r), "the relay refused AUTH");
            auth_done_ = true;
            return next_command();
        case state::xclient:
            // XCLIENT_README: success is 220, a new greeting; the relay is back
            // at the start of the session and expects EHLO.
            if (r.code != 220) return fail(std::move(r), "the relay refused XCLIENT");
            if (xclient_next_ < xclient_commands_.size()) {
                out_.value = xclient_commands_[xclient_next_++];
                return handshake_step::read;
            }
            xclient_done_ = true;
            return send_ehlo();
        default:
            assert(false && "a reply in a state that reads none");
            return fail(std::move(r), "internal error");
    }
}

handshake_step handshake::on_tls_established() {
    assert(state_ == state::tls_handshake);
    // RFC 3207 section 4.2: discard what the relay said before TLS, EHLO again.
    tls_done_ = true;
    caps_ = capabilities{};
    parser_.reset();
    core::wipe(out_.value);
    return send_ehlo();
}

handshake_step handshake::send_ehlo() {
    out_.value = "EHLO " + settings_.helo_name + "\r\n";
    state_ = state::ehlo;
    return handshake_step::read;
}

// The command after a 250 to EHLO or a 235 to AUTH (the caps stay valid), or done.
handshake_step handshake::next_command() {
    if (!tls_done_) {
        state_ = state::starttls;
        if (!caps_.starttls) return fail(std::nullopt, "the relay does not offer STARTTLS");
        out_.value = "STARTTLS\r\n";
        return handshake_step::read;
    }
    if (!settings_.auth_user.empty() && !auth_done_) return send_auth();
    if (settings_.use_xclient && xclient_.has_value() && !xclient_done_) return send_xclient();
    state_ = state::done;
    return handshake_step::done;
}

// RFC 4954 section 4, with the initial response:
//   "AUTH" SP sasl-mech [SP initial-response] CRLF
// RFC 4616 section 2:  message = [authzid] UTF8NUL authcid UTF8NUL passwd
handshake_step handshake::send_auth() {
    state_ = state::auth;
    if (!contains(caps_.auth_mechanisms, "PLAIN"))
        return fail(std::nullopt, "the relay does not offer AUTH PLAIN");
    const std::string_view password =
        settings_.auth_password != nullptr ? settings_.auth_password->view() : std::string_view();
    if (password.empty()) return fail(std::nullopt, "no password for AUTH to the relay");
    const std::string_view user = settings_.auth_user;
    const std::string_view authzid = settings_.auth_authzid;
    for (const std::string_view field : {authzid, user, password}) {
        if (field.find('\0') != std::string_view::npos)
            return fail(std::nullopt, "a NUL in the credentials for the relay");
    }

    // Sized up front, so no reallocation leaves a copy of the secret behind.
    std::string message;
    message.reserve(authzid.size() + user.size() + password.size() + 2);
    message.append(authzid).append(1, '\0').append(user).append(1, '\0').append(password);
    std::string encoded = core::base64_encode(message);
    core::wipe(message);
    static constexpr std::string_view verb = "AUTH PLAIN ";
    core::wipe(out_.value);
    out_.value.reserve(verb.size() + encoded.size() + 2);
    out_.value.append(verb).append(encoded).append("\r\n");
    core::wipe(encoded);
    return handshake_step::read;
}

// XCLIENT_README:
//   xclient-command = XCLIENT 1*( SP attribute-name"="attribute-value )
//   attribute-name = ( NAME | ADDR | PORT | PROTO | HELO | LOGIN | DESTADDR | DESTPORT )
//   attribute-value = xtext
// Only the attributes the relay announced are sent, an empty value as
// [UNAVAILABLE]. Lines over 512 bytes are split into several commands, ADDR
// in the last one: "Once ADDR is sent, the client is usually no longer
// authorized to send XCLIENT commands."
handshake_step handshake::send_xclient() {
    state_ = state::xclient;
    if (!caps_.xclient) return fail(std::nullopt, "the relay does not offer XCLIENT");
    const xclient_facts& f = *xclient_;
    const std::array<std::pair<std::string_view, std::string>, 7> attributes{{
        {"HELO", f.helo},
        {"PROTO", f.proto},
        {"LOGIN", f.login},
        {"DESTADDR", f.destaddr.empty() ? std::string() : xclient_address(f.destaddr)},
        {"DESTPORT", f.destport},
        {"PORT", f.port},
        {"ADDR", f.addr.empty() ? std::string() : xclient_address(f.addr)},
    }};
    static constexpr std::string_view verb = "XCLIENT";
    static constexpr std::string_view unavailable = "[UNAVAILABLE]";
    // The longest " NAME=value" that fits a line on its own.
    constexpr std::size_t max_attribute = max_command_line - verb.size() - 2;

    xclient_commands_.clear();
    xclient_next_ = 0;
    std::string line;
    for (const auto& [name, value] : attributes) {
        if (!contains(caps_.xclient_attributes, name)) continue;
        std::string attribute = " " + std::string(name) + "=";
        const std::string encoded = value.empty() ? std::string(unavailable) : xtext(value);
        // A value no line can carry (a HELO of 200 encoded bytes) is unknown.
        attribute += attribute.size() + encoded.size() <= max_attribute ? encoded : unavailable;
        if (!line.empty() && line.size() + attribute.size() + 2 > max_command_line) {
            xclient_commands_.push_back(line + "\r\n");
            line.clear();
        }
        if (line.empty()) line = verb;
        line += attribute;
    }
    if (line.empty())
        return fail(std::nullopt, "the relay announces none of the XCLIENT attributes we send");
    xclient_commands_.push_back(line + "\r\n");
    out_.value = xclient_commands_[xclient_next_++];
    return handshake_step::read;
}

handshake_stage handshake::stage() const {
    switch (state_) {
        case state::initial:
        case state::greeting:
            return handshake_stage::greeting;
        case state::starttls:
        case state::tls_handshake:
            return handshake_stage::starttls;
        case state::auth:
            return handshake_stage::auth;
        case state::xclient:
            return handshake_stage::xclient;
        default:
            return handshake_stage::ehlo;
    }
}

handshake_step handshake::fail(std::optional<reply> r, std::string reason) {
    failure_.stage = stage();
    failure_.relay_reply = std::move(r);
    failure_.reason = std::move(reason);
    core::wipe(out_.value);
    state_ = state::failed;
    return handshake_step::failed;
}

}  // namespace submitd::relay
