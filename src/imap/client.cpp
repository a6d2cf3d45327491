// The BURL IMAP client (see client.hpp): greeting and CAPABILITY (RFC 3501
// sections 7.1.5 and 6.1.1), STARTTLS (section 6.2.1), AUTHENTICATE PLAIN
// (RFC 4616) with SASL-IR (RFC 4959) or LOGIN (section 6.2.3), URLFETCH
// (RFC 4467 section 3), EXAMINE and UID FETCH BODY.PEEK (sections 6.3.2,
// 6.4.8), LOGOUT (section 6.1.3). One command at a time, each ended by its
// tagged response. It does no I/O and never logs: the driver logs
// failure_info() and result().text. The password is read once, when the login
// is built, and every copy of it is wiped.
#include "imap/client.hpp"

#include <cassert>
#include <string>
#include <utility>

#include "core/base64.hpp"

namespace submitd::imap {
namespace {

bool has_nul(std::string_view s) {
    return s.find('\0') != std::string_view::npos;
}

/// RFC 3501 section 4.3: a quoted string holds 7-bit text without CR and LF;
/// anything else goes as a literal (NUL cannot go at all, not even there).
bool needs_literal(std::string_view s) {
    for (const char c : s) {
        if (c == '\r' || c == '\n' || static_cast<unsigned char>(c) >= 0x80) return true;
    }
    return false;
}

}  // namespace

bool is_sendable_section(std::string_view s) {
    int depth = 0;
    for (const char c : s) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' || c == ' ' ||
                        c == '(' || c == ')';
        if (!ok) return false;
        if (c == '(') ++depth;
        if (c == ')' && --depth < 0) return false;
    }
    return depth == 0;
}

/// Builds a command in parts, each but the last ending in a synchronising
/// literal's header: the server's continuation request asks for the next.
/// Every part is reserved large enough up front, so appending never leaves a
/// copy of a secret in freed memory.
class client::builder {
public:
    /// @param bound an upper bound of the command's size
    builder(std::string_view tag, std::string_view verb, std::size_t bound) : bound_(bound + 64) {
        parts_.reserve(4);
        next_part();
        raw(tag);
        raw(" ");
        raw(verb);
    }
    void raw(std::string_view s) { parts_.back().value.append(s); }
    /// An astring argument, after a space: quoted (\ and " escaped) or a literal.
    void astring(std::string_view s) {
        raw(" ");
        if (needs_literal(s)) {
            raw("{" + std::to_string(s.size()) + "}\r\n");
            next_part();
            raw(s);
            return;
        }
        raw("\"");
        for (const char c : s) {
            if (c == '\\' || c == '"') raw("\\");
            parts_.back().value += c;
        }
        raw("\"");
    }
    std::vector<wiped_string> finish() {
        raw("\r\n");
        return std::move(parts_);
    }

private:
    void next_part() {
        assert(parts_.size() < parts_.capacity());
        parts_.emplace_back();
        parts_.back().value.reserve(bound_);
    }

    std::size_t bound_;
    std::vector<wiped_string> parts_;
};

client::client(client_settings s)
    : settings_(std::move(s)),
      parser_(parser_limits{settings_.max_line, settings_.max_other_literal}) {}

void client::clear_output() {
    core::wipe(out_.value);
}

step client::start() {
    assert(state_ == state::initial);
    state_ = state::greeting;
    tls_done_ = settings_.tls != imap_tls::starttls;
    return step::read;
}

step client::on_tls_established() {
    assert(state_ == state::tls_handshake);
    // RFC 3501 section 6.2.1: "the client MUST discard cached information
    // about server capabilities" and ask again.
    tls_done_ = true;
    caps_.clear();
    have_caps_ = false;
    parser_.reset();
    core::wipe(out_.value);
    state_ = state::capability;
    send(builder(next_tag(), "CAPABILITY", 0).finish());
    return step::read;
}

step client::on_input(std::string_view in, std::size_t& consumed) {
    consumed = 0;
    switch (state_) {
        case state::initial:
            assert(false && "on_input() before start()");
            return step::read;
        case state::tls_handshake:
        case state::done:
        case state::failed:
            return current_step();
        default:
            break;
    }
    // The previous call's output has been written (client.hpp): wipe it
    // before anything else is built, whatever the driver did with it.
    core::wipe(out_.value);
    while (consumed < in.size()) {
        const parse_result r = parser_.parse(in.substr(consumed));
        consumed += r.consumed;
        if (r.status == parse_status::need_more) break;
        if (r.status == parse_status::bad_input)
            return fail("a malformed response: " + parser_.error());
        const state before = state_;
        on_response(parser_.take());
        if (state_ == state::failed || state_ == state::done) return current_step();
        if (state_ == state::tls_handshake) {
            // Bytes after the OK to STARTTLS were sent before TLS: a man in
            // the middle may have added them, to be read as protected.
            if (consumed < in.size())
                return fail("the server sent more after its OK to STARTTLS (an injection?)");
            return step::start_tls;
        }
        if (!out_.value.empty()) return step::read;
        if (state_ == state::ready && before != state::ready) return step::ready;
    }
    return current_step();
}

void client::on_response(response&& r) {
    switch (r.type) {
        case response_type::continuation:
            // RFC 3501 section 7.5: the server is ready for the rest of the
            // command, after a literal header or for an AUTHENTICATE response.
            if (tag_.empty() || next_part_ >= parts_.size()) {
                fail("an unexpected continuation request");
                return;
            }
            out_ = std::move(parts_[next_part_++]);
            return;
        case response_type::untagged:
            on_untagged(r);
            return;
        case response_type::tagged:
            on_tagged(r);
            return;
    }
}

void client::on_untagged(response& r) {
    if (state_ == state::greeting) {
        on_greeting(r);
        return;
    }
    // RFC 3501 section 7.1.5: BYE is sent before LOGOUT's OK, or when the
    // server is closing the connection (shutdown, autologout): mid-fetch, the
    // data cannot be trusted to be complete.
    if (r.status == status_word::bye) {
        if (state_ == state::logout) {
            bye_seen_ = true;
            return;
        }
        fail("the server closed the connection: " + r.text);
        return;
    }
    if (r.name == "CAPABILITY" || r.code == "CAPABILITY")
        set_capabilities(std::move(r.capabilities));
    switch (state_) {
        case state::examine:
            // RFC 3501 section 6.3.1: "OK [UIDVALIDITY <n>]" is required.
            if (r.status == status_word::ok && r.code == "UIDVALIDITY")
                examined_uidvalidity_ = parse_number(r.code_args);
            break;
        case state::uid_fetch:
            if (r.name == "FETCH" && r.uid == uid_ && r.data != data_state::absent) {
                data_ = r.data;
                data_size_ = r.data_size;
                result_.octets = std::move(r.octets);
            }
            break;
        case state::urlfetch:
            if (r.name == "URLFETCH" && r.data != data_state::absent) {
                data_ = r.data;
                data_size_ = r.data_size;
                result_.octets = std::move(r.octets);
            }
            break;
        default:
            break;
    }
}

// RFC 3501 section 7.1: greeting = "*" SP (resp-cond-auth / resp-cond-bye) CRLF
void client::on_greeting(response& r) {
    switch (r.status) {
        case status_word::ok:
            if (r.code == "CAPABILITY") set_capabilities(std::move(r.capabilities));
            after_capabilities();
            return;
        case status_word::preauth:
            // Logged in as someone we did not choose: not the identity we need.
            fail("the server greeted with PREAUTH: " + r.text);
            return;
        case status_word::bye:
            fail("the server refused the connection: " + r.text);
            return;
        default:
            fail("not an IMAP greeting");
            return;
    }
}

void client::on_tagged(response& r) {
    if (tag_.empty() || r.tag != tag_) {
        fail("a tagged response with a tag we did not send: " + r.tag);
        return;
    }
    tag_.clear();
    parts_.clear();
    next_part_ = 0;
    const bool ok = r.status == status_word::ok;
    switch (state_) {
        case state::capability:
            if (!ok) {
                fail("the server refused CAPABILITY: " + r.text);
                return;
            }
            if (r.code == "CAPABILITY") set_capabilities(std::move(r.capabilities));
            have_caps_ = true;
            after_capabilities();
            return;
        case state::starttls:
            if (!ok) {
                fail("the server refused STARTTLS: " + r.text);
                return;
            }
            state_ = state::tls_handshake;
            return;
        case state::login:
            if (!ok) {
                fail("the server refused the login: " + r.text);
                return;
            }
            // RFC 3501 section 6.2.3: capabilities may change at login.
            if (r.code == "CAPABILITY") set_capabilities(std::move(r.capabilities));
            state_ = state::ready;
            return;
        case state::examine:
            if (!ok) {
                // A failed EXAMINE leaves no mailbox selected (section 6.3.1).
                selected_.reset();
                selected_uidvalidity_.reset();
                finish_fetch(r.status == status_word::no ? fetch_status::nil : fetch_status::error,
                             "EXAMINE refused: " + r.text);
                return;
            }
            selected_ = mailbox_;
            selected_uidvalidity_ = examined_uidvalidity_;
            if (uidvalidity_ && examined_uidvalidity_ != uidvalidity_) {
                // RFC 5092 section 6: a URL with another UIDVALIDITY names
                // messages that are gone.
                finish_fetch(fetch_status::nil,
                             "the mailbox's UIDVALIDITY is " +
                                 (examined_uidvalidity_ ? std::to_string(*examined_uidvalidity_)
                                                        : std::string("not given")) +
                                 ", not " + std::to_string(*uidvalidity_));
                return;
            }
            send_uid_fetch();
            return;
        case state::uid_fetch:
        case state::urlfetch:
            if (!ok) {
                finish_fetch(fetch_status::error, r.text);
                return;
            }
            switch (data_) {
                case data_state::value:
                    finish_fetch(fetch_status::ok, r.text);
                    return;
                case data_state::too_big:
                    finish_fetch(fetch_status::too_big,
                                 "the server announced " + std::to_string(data_size_) +
                                     " octets, over the limit of " + std::to_string(max_size_));
                    return;
                case data_state::nil:
                    finish_fetch(fetch_status::nil, "NIL: " + r.text);
                    return;
                case data_state::absent:
                    finish_fetch(fetch_status::nil, "no data: " + r.text);
                    return;
            }
            return;
        case state::logout:
            if (!ok) {
                fail("the server refused LOGOUT: " + r.text);
                return;
            }
            state_ = state::done;
            return;
        default:
            assert(false && "a tagged response in a state that sent no command");
            fail("internal error");
            return;
    }
}

// The command after the capabilities are known: CAPABILITY if they are not,
// then STARTTLS if it is still to do, then the login.
void client::after_capabilities() {
    if (!have_caps_) {
        state_ = state::capability;
        send(builder(next_tag(), "CAPABILITY", 0).finish());
        return;
    }
    if (!tls_done_) {
        state_ = state::starttls;
        if (!has_capability("STARTTLS")) {
            fail("the server does not offer STARTTLS");
            return;
        }
        send(builder(next_tag(), "STARTTLS", 0).finish());
        return;
    }
    send_login();
}

// RFC 3501 section 6.2.2 with RFC 4959:
//   authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")] *(CRLF base64)
// RFC 4616 section 2:  message = [authzid] UTF8NUL authcid UTF8NUL passwd
// else section 6.2.3:  login = "LOGIN" SP userid SP password
void client::send_login() {
    state_ = state::login;
    const std::string_view user = settings_.user;
    const std::string_view authzid = settings_.authzid;
    const std::string_view password =
        settings_.password != nullptr ? settings_.password->view() : std::string_view();
    if (user.empty()) {
        fail("no user to log in as");
        return;
    }
    if (password.empty()) {
        fail("no password for the login");
        return;
    }
    if (has_nul(user) || has_nul(authzid) || has_nul(password)) {
        fail("a NUL in the credentials");
        return;
    }
    if (has_capability("AUTH=PLAIN")) {
        // Sized up front, so no reallocation leaves a copy of the secret behind.
        std::string message;
        message.reserve(authzid.size() + user.size() + password.size() + 2);
        message.append(authzid).append(1, '\0').append(user).append(1, '\0').append(password);
        std::string encoded = core::base64_encode(message);
        core::wipe(message);
        builder b(next_tag(), "AUTHENTICATE PLAIN", encoded.size());
        if (has_capability("SASL-IR")) {
            b.raw(" ");
            b.raw(encoded);
            send(b.finish());
        } else {
            // The response goes after the server's (empty) challenge.
            std::vector<wiped_string> parts = b.finish();
            parts.emplace_back();
            parts.back().value.reserve(encoded.size() + 2);
            parts.back().value.append(encoded).append("\r\n");
            send(std::move(parts));
        }
        core::wipe(encoded);
        return;
    }
    if (!authzid.empty()) {
        fail("the server does not offer AUTH=PLAIN, which a master-user login needs");
        return;
    }
    if (has_capability("LOGINDISABLED")) {
        fail("the server offers neither AUTH=PLAIN nor LOGIN (LOGINDISABLED)");
        return;
    }
    builder b(next_tag(), "LOGIN", 2 * (user.size() + password.size()));
    b.astring(user);
    b.astring(password);
    send(b.finish());
}

step client::urlfetch(std::string_view url, std::uint64_t max_size) {
    assert(state_ == state::ready);
    if (state_ != state::ready) return fail("urlfetch() while not ready");
    core::wipe(out_.value);
    result_ = fetch_result{};
    data_ = data_state::absent;
    max_size_ = max_size;
    if (url.empty() || has_nul(url))
        return local_result(fetch_status::nil, "the URL is empty or holds a NUL");
    data_target target;
    target.what = data_target::kind::urlfetch;
    target.url = std::string(url);
    target.max_size = max_size;
    parser_.set_target(std::move(target));
    state_ = state::urlfetch;
    // RFC 4467 section 3: urlfetch = "URLFETCH" 1*(SP astring)
    builder b(next_tag(), "URLFETCH", url.size() * 2);
    b.astring(url);
    send(b.finish());
    return step::read;
}

step client::uid_fetch(std::string_view mailbox, std::optional<std::uint32_t> uidvalidity,
                       std::uint32_t uid, std::string_view section,
                       std::optional<std::pair<std::uint64_t, std::uint64_t>> partial,
                       std::uint64_t max_size) {
    assert(state_ == state::ready);
    if (state_ != state::ready) return fail("uid_fetch() while not ready");
    core::wipe(out_.value);
    result_ = fetch_result{};
    data_ = data_state::absent;
    max_size_ = max_size;
    if (has_nul(mailbox)) return local_result(fetch_status::nil, "the mailbox name holds a NUL");
    if (uid == 0) return local_result(fetch_status::nil, "UID 0 names no message");
    if (!is_sendable_section(section))
        return local_result(fetch_status::nil, "a section we do not send");
    // RFC 3501: "<" number "." nz-number ">"
    if (partial && partial->second == 0)
        return local_result(fetch_status::nil, "a partial range of length 0");
    mailbox_ = std::string(mailbox);
    uidvalidity_ = uidvalidity;
    uid_ = uid;
    section_ = std::string(section);
    partial_ = partial;
    if (selected_ && *selected_ == mailbox &&
        (!uidvalidity || selected_uidvalidity_ == uidvalidity)) {
        send_uid_fetch();
    } else {
        send_examine();
    }
    return step::read;
}

// RFC 3501 section 6.3.2: examine = "EXAMINE" SP mailbox (read-only, so
// nothing we do can change the mailbox, \Seen flags included).
void client::send_examine() {
    state_ = state::examine;
    examined_uidvalidity_.reset();
    selected_.reset();
    selected_uidvalidity_.reset();
    parser_.set_target(data_target{});
    builder b(next_tag(), "EXAMINE", mailbox_.size() * 2);
    b.astring(mailbox_);
    send(b.finish());
}

// RFC 3501 sections 6.4.8 and 6.4.5:
//   "UID" SP "FETCH" SP sequence-set SP "(" "BODY.PEEK" section ["<" number "." nz-number ">"] ")"
void client::send_uid_fetch() {
    state_ = state::uid_fetch;
    data_target target;
    target.what = data_target::kind::fetch;
    target.section = section_;
    if (partial_) target.origin = partial_->first;
    target.max_size = max_size_;
    parser_.set_target(std::move(target));
    std::string command = std::to_string(uid_) + " (BODY.PEEK[" + section_ + "]";
    if (partial_) {
        command +=
            "<" + std::to_string(partial_->first) + "." + std::to_string(partial_->second) + ">";
    }
    command += ")";
    builder b(next_tag(), "UID FETCH ", command.size());
    b.raw(command);
    send(b.finish());
}

step client::logout() {
    assert(state_ == state::ready);
    if (state_ != state::ready) return fail("logout() while not ready");
    core::wipe(out_.value);
    state_ = state::logout;
    send(builder(next_tag(), "LOGOUT", 0).finish());
    return step::read;
}

void client::send(std::vector<wiped_string>&& parts) {
    parts_ = std::move(parts);
    next_part_ = 1;
    out_ = std::move(parts_.front());
}

void client::finish_fetch(fetch_status status, std::string text) {
    result_.status = status;
    result_.text = std::move(text);
    if (status != fetch_status::ok) result_.octets.clear();
    parser_.set_target(data_target{});
    state_ = state::ready;
}

step client::local_result(fetch_status status, std::string text) {
    result_.status = status;
    result_.text = std::move(text);
    return step::ready;
}

void client::set_capabilities(std::vector<std::string>&& caps) {
    caps_ = std::move(caps);
    have_caps_ = true;
}

bool client::has_capability(std::string_view name) const {
    for (const auto& c : caps_) {
        if (c == name) return true;
    }
    return false;
}

std::string client::next_tag() {
    tag_ = "a" + std::to_string(++tag_count_);
    return tag_;
}

step client::current_step() const {
    switch (state_) {
        case state::tls_handshake:
            return step::start_tls;
        case state::ready:
            return step::ready;
        case state::done:
            return step::done;
        case state::failed:
            return step::failed;
        default:
            return step::read;
    }
}

const char* client::stage() const {
    switch (state_) {
        case state::initial:
        case state::greeting:
            return "greeting";
        case state::capability:
            return "capability";
        case state::starttls:
        case state::tls_handshake:
            return "starttls";
        case state::login:
            return "login";
        case state::logout:
        case state::done:
            return "logout";
        default:
            return "fetch";
    }
}

step client::fail(std::string reason) {
    if (state_ != state::failed) failure_.stage = stage();
    failure_.reason = std::move(reason);
    core::wipe(out_.value);
    parts_.clear();
    next_part_ = 0;
    tag_.clear();
    parser_.set_target(data_target{});
    state_ = state::failed;
    return step::failed;
}

}  // namespace submitd::imap
