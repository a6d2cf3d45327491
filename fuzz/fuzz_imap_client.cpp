// libFuzzer target for the BURL IMAP client: the bytes after the first two
// are what an IMAP server sends. The first byte picks the setup:
//   bit 0     the mode: 0 the client machine, 1 the response parser alone
//   bits 1-2  client: STARTTLS none, starttls, implicit, starttls
//             parser: the target: none, a FETCH BODY[], BODY[1.2]<0>, a URLFETCH
//   bit 3     client: URLFETCH as "submit", or EXAMINE + UID FETCH as a master user
//   bits 4-5  limits (max_line, max_other_literal, max_size):
//             64 KiB/1 MiB/1 MiB, 64/16/8, 256/64/32, 16/4/0
//   bits 6-7  the chunk size the server's bytes are fed in: 1, 3, 64, all
// The second byte picks the fetch (URL or mailbox needing a literal, a
// UIDVALIDITY, a partial, a section) and a split offset.
//
//   1. The client is driven through greeting, login, two fetches and LOGOUT
//      (after start_tls the rest is taken as what comes through TLS). It
//      never consumes more than it is given, always consumes something when
//      it reads, writes a command after each call that asks for one, ends
//      each output with CRLF and never writes a NUL, keeps octets within
//      max_size (and none unless ok), fails with a stage and a reason, and
//      at done or failed consumes nothing. Fed byte by byte it behaves the
//      same up to the first TLS handshake.
//   2. The parser on its own, whole, split in two and byte by byte: the same
//      responses and error; need_more consumes all, complete something,
//      bad_input then nothing; data within max_size, text without CR, LF or
//      NUL, capabilities upper-cased and bounded.
// Invariants are checked with __builtin_trap.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/secret.hpp"
#include "fuzz_support.hpp"
#include "imap/client.hpp"
#include "imap/response.hpp"

namespace {

using namespace submitd;
using namespace submitd::imap;

using submitd::fuzz::require;

struct limits {
    std::size_t max_line;
    std::uint64_t max_other_literal;
    std::uint64_t max_size;
};
constexpr limits all_limits[] = {{65536, 1 << 20, 1 << 20}, {64, 16, 8}, {256, 64, 32}, {16, 4, 0}};
constexpr std::size_t chunks[] = {1, 3, 64, 0};

const std::string short_url = "imap://h/INBOX;UIDVALIDITY=7/;UID=1;urlauth=submit+a:internal:00";

bool no_line_breaks(std::string_view s) {
    return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool is_upper(std::string_view s) {
    return std::none_of(s.begin(), s.end(), [](char c) { return c >= 'a' && c <= 'z'; });
}

// --- the parser alone ----------------------------------------------------------

std::string describe(const response& r) {
    std::string out = std::to_string(static_cast<int>(r.type)) + "|" + r.tag + "|" +
                      std::to_string(static_cast<int>(r.status)) + "|" + r.name + "|" +
                      (r.number ? std::to_string(*r.number) : "-") + "|" + r.text + "|" + r.code +
                      "|" + r.code_args + "|" + (r.uid ? std::to_string(*r.uid) : "-") + "|" +
                      std::to_string(static_cast<int>(r.data)) + "|" + std::to_string(r.data_size) +
                      "|" + r.octets;
    for (const auto& c : r.capabilities)
        out += "|" + c;
    return out;
}

void check_response(const response& r, const data_target& target, const limits& l) {
    require(no_line_breaks(r.text) && no_line_breaks(r.code) && no_line_breaks(r.code_args));
    require(r.text.size() <= l.max_line);
    require(r.capabilities.size() <= max_capabilities);
    for (const auto& c : r.capabilities)
        require(!c.empty() && is_upper(c));
    require(is_upper(r.name) && is_upper(r.code));
    if (r.type == response_type::tagged) require(!r.tag.empty() && r.status != status_word::none);
    require(r.data == data_state::absent || target.what != data_target::kind::none);
    if (r.data == data_state::value) {
        require(r.octets.size() == r.data_size && r.octets.size() <= target.max_size);
    } else {
        require(r.octets.empty());
    }
    if (r.data == data_state::too_big) require(r.data_size > target.max_size);
}

std::vector<std::string> parse_all(std::string_view input, std::size_t first, std::size_t chunk,
                                   const data_target& target, const limits& l) {
    response_parser p(parser_limits{l.max_line, l.max_other_literal});
    p.set_target(target);
    std::vector<std::string> out;
    std::string pending;
    std::size_t pos = 0;
    while (pos < input.size()) {
        std::size_t n = chunk == 0 ? input.size() : std::min(chunk, input.size() - pos);
        if (pos == 0 && first > 0) n = std::min(first, input.size());
        pending.append(input.substr(pos, n));
        pos += n;
        for (;;) {
            const std::vector<char> exact(pending.begin(), pending.end());
            const parse_result r = p.parse(std::string_view(exact.data(), exact.size()));
            require(r.consumed <= exact.size());
            pending.erase(0, r.consumed);
            if (r.status == parse_status::need_more) {
                require(pending.empty());
                break;
            }
            if (r.status == parse_status::bad_input) {
                require(!p.error().empty());
                const parse_result again = p.parse("a1 OK x\r\n");
                require(again.status == parse_status::bad_input && again.consumed == 0);
                out.push_back("error: " + p.error());
                return out;
            }
            require(r.consumed > 0);
            const response resp = p.take();
            check_response(resp, target, l);
            out.push_back(describe(resp));
        }
    }
    return out;
}

void fuzz_parser(std::uint8_t sel, std::uint8_t sel2, std::string_view input) {
    const limits& l = all_limits[(sel >> 4) & 3U];
    data_target target;
    target.max_size = l.max_size;
    switch ((sel >> 1) & 3U) {
        case 1:
            target.what = data_target::kind::fetch;
            break;
        case 2:
            target.what = data_target::kind::fetch;
            target.section = "1.2";
            target.origin = 0;
            break;
        case 3:
            target.what = data_target::kind::urlfetch;
            target.url = short_url;
            break;
        default:
            break;
    }
    const std::vector<std::string> whole = parse_all(input, 0, 0, target, l);
    require(parse_all(input, 0, 1, target, l) == whole);
    require(parse_all(input, 0, chunks[(sel >> 6) & 3U], target, l) == whole);
    if (!input.empty()) {
        const std::size_t split = (std::size_t{sel2} * 131U + input.size() / 2) % input.size();
        require(parse_all(input, split, 0, target, l) == whole);
    }
}

// --- the client ----------------------------------------------------------------

struct fetch_request {
    bool urlfetch = true;
    std::string url;
    std::string mailbox;
    std::optional<std::uint32_t> uidvalidity;
    std::uint32_t uid = 1;
    std::string section;
    std::optional<std::pair<std::uint64_t, std::uint64_t>> partial;
};

/// The two fetches the second byte asks for.
std::vector<fetch_request> requests(bool urlfetch, std::uint8_t sel2) {
    fetch_request a;
    a.urlfetch = urlfetch;
    a.url = (sel2 & 1U) != 0 ? short_url + "\xc3\xa9" : short_url;
    a.mailbox = (sel2 & 1U) != 0 ? "Entw\xc3\xbcrfe" : "INBOX";
    if ((sel2 & 2U) != 0) a.uidvalidity = 7;
    if ((sel2 & 4U) != 0) a.partial = std::make_pair(0, 100);
    if ((sel2 & 8U) != 0) a.section = "1.2";
    fetch_request b = a;
    b.uid = 2;
    if ((sel2 & 16U) != 0) b.mailbox = "Other";
    return {a, b};
}

struct outcome {
    std::vector<std::string> events;
    step last = step::read;
};

outcome run_client(std::uint8_t sel, std::uint8_t sel2, std::string_view input, std::size_t chunk) {
    const limits& l = all_limits[(sel >> 4) & 3U];
    core::secret_string password(std::string_view("s3cr\"et\\"));
    client_settings s;
    static constexpr imap_tls modes[] = {imap_tls::none, imap_tls::starttls, imap_tls::implicit,
                                         imap_tls::starttls};
    s.tls = modes[(sel >> 1) & 3U];
    const bool urlfetch = (sel & 8U) == 0;
    s.user = urlfetch ? "submit" : "master";
    if (!urlfetch) s.authzid = "alice";
    s.password = &password;
    s.max_line = l.max_line;
    s.max_other_literal = l.max_other_literal;
    client c(s);
    const std::vector<fetch_request> fetches = requests(urlfetch, sel2);

    outcome o;
    step st = c.start();
    std::size_t next = 0;  // the next action: fetches, then LOGOUT
    bool fetching = false;
    bool tls_done = s.tls != imap_tls::starttls;
    std::string pending;
    std::size_t pos = 0;
    for (int guard = 0;; ++guard) {
        require(guard < 10000000);
        if (!c.output().empty()) {
            const std::string& out = c.output();
            require(out.size() >= 2 && out.ends_with("\r\n"));
            require(out.find('\0') == std::string::npos);
            o.events.push_back(out);
            c.clear_output();
            require(c.output().empty());
        }
        switch (st) {
            case step::done:
            case step::failed: {
                if (st == step::failed) {
                    require(!c.failure_info().stage.empty() && !c.failure_info().reason.empty());
                } else {
                    require(next > fetches.size());  // after LOGOUT only
                }
                std::size_t consumed = 1;
                require(c.on_input("a1 OK x\r\n", consumed) == st && consumed == 0);
                o.events.emplace_back(st == step::done ? "done"
                                                       : "failed " + c.failure_info().stage);
                o.last = st;
                return o;
            }
            case step::start_tls:
                require(pending.empty() && !tls_done);
                tls_done = true;
                o.events.emplace_back("TLS");
                st = c.on_tls_established();
                require(st == step::read && !c.output().empty());
                continue;
            case step::ready: {
                require(tls_done);
                for (const auto& cap : c.capabilities())
                    require(is_upper(cap));
                if (fetching) {
                    const fetch_result& r = c.result();
                    require(r.octets.size() <= l.max_size);
                    require(r.status == fetch_status::ok || r.octets.empty());
                    o.events.push_back("result " + std::to_string(static_cast<int>(r.status)) +
                                       " " + r.octets);
                    fetching = false;
                }
                if (next < fetches.size()) {
                    const fetch_request& f = fetches[next++];
                    st = f.urlfetch ? c.urlfetch(f.url, l.max_size)
                                    : c.uid_fetch(f.mailbox, f.uidvalidity, f.uid, f.section,
                                                  f.partial, l.max_size);
                    fetching = true;
                } else {
                    ++next;
                    st = c.logout();
                }
                require(st == step::ready || st == step::read);
                if (st == step::read) require(!c.output().empty());
                continue;
            }
            case step::read:
                break;
        }
        if (!pending.empty()) {
            const std::vector<char> exact(pending.begin(), pending.end());
            std::size_t consumed = 0;
            st = c.on_input(std::string_view(exact.data(), exact.size()), consumed);
            require(consumed <= exact.size());
            if (st == step::start_tls) require(consumed == exact.size());
            // Reading, it takes at least a byte: a partial response is kept inside.
            if (st == step::read && c.output().empty()) require(consumed == exact.size());
            pending.erase(0, consumed);
            continue;
        }
        if (pos >= input.size()) {
            o.events.emplace_back("waiting");
            o.last = st;
            return o;
        }
        const std::size_t n = chunk == 0 ? input.size() : std::min(chunk, input.size() - pos);
        pending.append(input.substr(pos, n));
        pos += n;
    }
}

void fuzz_client(std::uint8_t sel, std::uint8_t sel2, std::string_view input) {
    const outcome a = run_client(sel, sel2, input, chunks[(sel >> 6) & 3U]);
    // Up to the first TLS handshake, how the bytes are grouped changes
    // nothing (after it, bytes that came with the OK to STARTTLS fail).
    const outcome b = run_client(sel, sel2, input, 1);
    for (std::size_t i = 0; i < a.events.size() && i < b.events.size(); ++i) {
        if (a.events[i] == "TLS" || b.events[i] == "TLS") return;
        require(a.events[i] == b.events[i]);
    }
    require(a.events.size() == b.events.size());
}

}  // namespace

// NOLINTNEXTLINE(readability-identifier-naming): the name libFuzzer calls
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::uint8_t sel = data[0];
    const std::uint8_t sel2 = data[1];
    const std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);
    if ((sel & 1U) != 0) {
        fuzz_parser(sel, sel2, input);
    } else {
        fuzz_client(sel, sel2, input);
    }
    return 0;
}
