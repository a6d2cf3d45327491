// libFuzzer target for the relay client's parsing and handshake: the bytes
// after the first are what a relay sends. The first byte picks the setup:
//   bit 0  STARTTLS required        bit 1  AUTH PLAIN configured
//   bit 2  XCLIENT with facts       bit 3  the facts have IPv6 addresses
//   bits 4-5  reply_parser limits: 4096/256, 16/4, 64/8, 1/1
//   bits 6-7  the chunk size the handshake is fed in: 1, 3, 64, all
// Two runs per input:
//   1. reply_parser over the bytes whole, split at a data-derived offset and
//      byte by byte: identical events; every complete reply within the limits
//      with a well-formed enhanced code, and parse_ehlo() and text() on it;
//   2. a handshake driven by the bytes as its relay (after start_tls the rest
//      is taken as what comes through TLS): it ends in read, done or failed;
//      each output is one command ending in CRLF with no other CR, LF or NUL,
//      at most 512 bytes; done is never reached without the STARTTLS, AUTH and
//      XCLIENT the setup asks for; fed byte by byte it writes the same.
// Invariants are checked with __builtin_trap.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/secret.hpp"
#include "fuzz_support.hpp"
#include "relay/handshake.hpp"
#include "relay/reply.hpp"

namespace {

using namespace submitd;
using namespace submitd::relay;

using submitd::fuzz::require;

struct limits {
    std::size_t max_line;
    std::size_t max_lines;
};
constexpr limits parser_limits[] = {{4096, 256}, {16, 4}, {64, 8}, {1, 1}};

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

/// class "." 1*3digit "." 1*3digit, the class matching the reply's.
bool is_enhanced_code(std::string_view e, int code) {
    if (e.size() < 5 || e[0] != static_cast<char>('0' + code / 100) || e[1] != '.') return false;
    std::size_t i = 2;
    for (int part = 0; part < 2; ++part) {
        const std::size_t start = i;
        while (i < e.size() && is_digit(e[i]))
            ++i;
        if (i == start || i - start > 3) return false;
        if (part == 0) {
            if (i >= e.size() || e[i] != '.') return false;
            ++i;
        }
    }
    return i == e.size();
}

void check_reply(const reply& r, const limits& l) {
    require(r.code >= 200 && r.code <= 599);
    require(!r.lines.empty() && r.lines.size() <= l.max_lines);
    for (const auto& line : r.lines) {
        require(line.size() + 4 <= l.max_line || line.empty());
        for (const char c : line)
            require(c == '\t' || static_cast<unsigned char>(c) >= 0x20);
        require(line.find('\x7f') == std::string::npos);
    }
    require(r.enhanced.empty() || is_enhanced_code(r.enhanced, r.code));
    require(r.enhanced.empty() || r.lines.front().starts_with(r.enhanced));
    const std::string text = r.text();
    require(text.find_first_of("\r\n") == std::string::npos);

    const capabilities caps = parse_ehlo(r);
    for (const auto* list : {&caps.auth_mechanisms, &caps.xclient_attributes}) {
        for (std::size_t i = 0; i < list->size(); ++i) {
            const std::string& w = (*list)[i];
            require(!w.empty());
            for (const char c : w)
                require(!(c >= 'a' && c <= 'z') && c != ' ' && c != '\t');
            for (std::size_t j = 0; j < i; ++j)
                require((*list)[j] != w);
        }
    }
    require(caps.xclient || caps.xclient_attributes.empty());
}

/// A reply, or the error of a bad one.
struct event {
    int code = 0;
    std::string enhanced;
    std::vector<std::string> lines;
    std::string error;
    bool operator==(const event&) const = default;
};

/// Feeds `input` in pieces of `chunk` bytes (0: whole), offering unconsumed
/// bytes again as a driver would, and checks each reply.
std::vector<event> parse_all(std::string_view input, std::size_t chunk, const limits& l) {
    reply_parser parser(l.max_line, l.max_lines);
    std::vector<event> out;
    std::string pending;
    std::size_t pos = 0;
    while (pos < input.size()) {
        const std::size_t n = chunk == 0 ? input.size() : std::min(chunk, input.size() - pos);
        pending.append(input.substr(pos, n));
        pos += n;
        for (;;) {
            const std::vector<char> exact(pending.begin(), pending.end());
            const reply_result r = parser.parse(std::span<const char>(exact.data(), exact.size()));
            require(r.consumed <= exact.size());
            pending.erase(0, r.consumed);
            if (r.status == reply_status::need_more) {
                require(pending.empty());
                require(parser.error().empty());
                break;
            }
            if (r.status == reply_status::bad_reply) {
                require(!parser.error().empty());
                out.push_back({0, {}, {}, parser.error()});
                // Failed for good: nothing more is consumed.
                const reply_result again = parser.parse(std::span<const char>("\n", 1));
                require(again.status == reply_status::bad_reply && again.consumed == 0);
                return out;
            }
            require(r.consumed > 0);
            const reply rep = parser.take();
            check_reply(rep, l);
            out.push_back({rep.code, rep.enhanced, rep.lines, {}});
        }
    }
    return out;
}

void fuzz_parser(std::string_view input, const limits& l, std::size_t split) {
    const std::vector<event> whole = parse_all(input, 0, l);
    require(parse_all(input, 1, l) == whole);
    if (split > 0 && split < input.size()) {
        // Two pieces: the first `split` bytes, then the rest.
        reply_parser parser(l.max_line, l.max_lines);
        std::vector<event> two;
        std::string pending;
        for (const std::string_view piece : {input.substr(0, split), input.substr(split)}) {
            pending.append(piece);
            for (;;) {
                const reply_result r =
                    parser.parse(std::span<const char>(pending.data(), pending.size()));
                pending.erase(0, r.consumed);
                if (r.status == reply_status::need_more) break;
                if (r.status == reply_status::bad_reply) {
                    two.push_back({0, {}, {}, parser.error()});
                    require(two == whole);
                    return;
                }
                const reply rep = parser.take();
                two.push_back({rep.code, rep.enhanced, rep.lines, {}});
            }
        }
        require(two == whole);
    }
}

// --- the handshake -----------------------------------------------------------

/// Each output: one command, "...\r\n", no other CR, LF or NUL, within 512 bytes.
void check_output(std::string_view out) {
    require(out.size() >= 2 && out.size() <= 512 && out.ends_with("\r\n"));
    const std::string_view body = out.substr(0, out.size() - 2);
    require(body.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos);
}

struct outcome {
    std::vector<std::string> events;  // the commands written, "TLS", and the end
    bool tls_done = false;
    bool auth_sent = false;
    bool xclient_sent = false;
    handshake_step last = handshake_step::read;
};

outcome run_handshake(std::uint8_t selector, std::string_view input, std::size_t chunk) {
    core::secret_string password(std::string_view("pass\xc3\xa9word"));
    handshake_settings s;
    s.helo_name = "submitd.test";
    s.tls = (selector & 1U) != 0 ? relay_tls::starttls : relay_tls::none;
    if ((selector & 2U) != 0) {
        s.auth_user = "relay+user";
        s.auth_authzid = "alice@example.org";
        s.auth_password = &password;
    }
    std::optional<xclient_facts> facts;
    if ((selector & 4U) != 0) {
        s.use_xclient = true;
        xclient_facts f;
        const bool v6 = (selector & 8U) != 0;
        f.addr = v6 ? "2001:db8::1" : "192.0.2.1";
        f.port = "50123";
        f.helo = v6 ? "[IPv6:2001:db8::1]" : std::string(450, 'h');
        f.login = "alice+x=y@example.org";
        f.destaddr = v6 ? "[2001:db8::2]" : "";
        f.destport = "587";
        facts = f;
    }
    const bool want_tls = s.tls == relay_tls::starttls;
    const bool want_auth = !s.auth_user.empty();
    const bool want_xclient = facts.has_value();
    handshake h(std::move(s), std::move(facts));

    outcome o;
    handshake_step step = h.start();
    std::string pending;
    std::size_t pos = 0;
    for (int guard = 0;; ++guard) {
        require(guard < 1000000);
        if (!h.output().empty()) {
            check_output(h.output());
            if (h.output().starts_with("AUTH PLAIN ")) o.auth_sent = true;
            if (h.output().starts_with("XCLIENT ")) o.xclient_sent = true;
            o.events.push_back(h.output());
            h.clear_output();
            require(h.output().empty());
        }
        if (step == handshake_step::done || step == handshake_step::failed) {
            o.events.emplace_back(step == handshake_step::done ? "done" : "failed");
            if (step == handshake_step::failed) require(!h.failure().reason.empty());
            if (step == handshake_step::done) {
                require(!want_tls || o.tls_done);
                require(!want_auth || o.auth_sent);
                require(!want_xclient || o.xclient_sent);
            }
            // Nothing more is consumed.
            std::size_t consumed = 1;
            require(h.on_input(std::span<const char>("x", 1), consumed) == step && consumed == 0);
            o.last = step;
            return o;
        }
        if (step == handshake_step::start_tls) {
            require(pending.empty());
            o.events.emplace_back("TLS");
            o.tls_done = true;
            step = h.on_tls_established();
            continue;
        }
        require(step == handshake_step::read);
        if (!pending.empty()) {
            const std::vector<char> exact(pending.begin(), pending.end());
            std::size_t consumed = 0;
            step = h.on_input(std::span<const char>(exact.data(), exact.size()), consumed);
            require(consumed <= exact.size());
            if (step == handshake_step::start_tls) require(consumed == exact.size());
            pending.erase(0, consumed);
            if (consumed > 0 || step != handshake_step::read || !h.output().empty()) continue;
            // A reply consumes bytes or completes; read with nothing consumed
            // means the machine has taken all it was given.
            require(pending.empty());
        }
        if (pos >= input.size()) {
            o.events.emplace_back("waiting");
            o.last = step;
            return o;
        }
        const std::size_t n = chunk == 0 ? input.size() : std::min(chunk, input.size() - pos);
        pending.append(input.substr(pos, n));
        pos += n;
    }
}

void fuzz_handshake(std::uint8_t selector, std::string_view input) {
    static constexpr std::size_t chunks[] = {1, 3, 64, 0};
    const outcome a = run_handshake(selector, input, chunks[(selector >> 6) & 3U]);
    require(a.last != handshake_step::start_tls);
    // Up to the first TLS handshake, how the bytes are grouped changes nothing
    // (after it, a chunk's bytes beyond the 220 are dropped, so it may).
    const outcome b = run_handshake(selector, input, 1);
    for (std::size_t i = 0; i < a.events.size() && i < b.events.size(); ++i) {
        require(a.events[i] == b.events[i]);
        if (a.events[i] == "TLS") return;
    }
    require(a.events.size() == b.events.size());
}

}  // namespace

// NOLINTNEXTLINE(readability-identifier-naming): the name libFuzzer calls
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t selector = data[0];
    const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    const limits& l = parser_limits[(selector >> 4) & 3U];
    const std::size_t split = input.empty() ? 0 : (selector * 131U) % input.size();
    fuzz_parser(input, l, split);
    fuzz_handshake(selector, input);
    return 0;
}
