// libFuzzer target for the passwd-file parser (auth/passwd_file.hpp) and the
// password schemes (auth/password_scheme.hpp). The first byte picks:
//   bit 0     the mode: 0 a passwd-file, 1 a stored password
//   bits 1-3  passwd-file: the line appended for the append check
//             stored password: bit 1 also hashes the password with the
//             stored string's scheme (cheap costs) and checks it back
// The rest is the file's text, or "stored\npassword" (the password is
// everything after the first LF, and may hold more).
//
//   1. The file is parsed whole and checked against the format the header
//      documents (lines split at LF, a CR before it dropped, blank and '#'
//      lines skipped, user:password:uid:gid:gecos:home:shell:extra, the
//      password "{SCHEME}data" with a known scheme, users unique): the same
//      success or the same first failing line and kind of error, every user
//      found with exactly its fields, no ':' in a user or password, no LF
//      anywhere, extra fields without blanks; errors never quote the
//      password field and name the first line of a duplicate. The text up
//      to the failing line parses; the text with CRLF line ends parses the
//      same; the text with a line appended keeps its users (or its error);
//      each valid line parses alone to the same entry.
//   2. A stored string: split_scheme() splits exactly at the first '}',
//      is_known_scheme() and is_fast_scheme() agree with known_schemes(),
//      verify_password() returns match, mismatch or error (error for an
//      unknown scheme), for PLAIN exactly byte equality, the same twice, and
//      for the digest schemes never matches a different password. Slow
//      hashes are verified only when their cost parameters are small (crypt
//      rounds and bcrypt/yescrypt costs, Argon2 m*t), so no input takes
//      seconds. Hashing with a scheme gives "{SCHEME}" upper-case and data
//      that verifies; crypt(3) schemes refuse exactly a NUL or 512+ bytes.
// Invariants are checked with __builtin_trap.
#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "auth/passwd_file.hpp"
#include "auth/password_scheme.hpp"
#include "core/ascii.hpp"
#include "core/log.hpp"
#include "fuzz_support.hpp"

namespace {

using namespace submitd;
using namespace submitd::auth;

using submitd::fuzz::require;

std::string upper(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return out;
}

bool contains(std::string_view hay, std::string_view needle) {
    return hay.find(needle) != std::string_view::npos;
}

// --- the passwd-file ---------------------------------------------------------

/// What the header says a line holds.
struct ref_entry {
    std::size_t line = 0;
    std::string user;
    std::string password;
    std::string fields[5];  // uid, gid, gecos, home, shell
    std::vector<std::string> extra;
};

enum class ref_error_kind {
    none,
    nul,
    empty_user,
    no_password,
    bad_password,
    bad_scheme,
    duplicate
};

struct ref_result {
    std::vector<ref_entry> entries;
    ref_error_kind error = ref_error_kind::none;
    std::size_t error_line = 0;
    std::size_t lines = 0;     ///< lines in the text
    std::string error_user;    ///< for bad_scheme and duplicate
    std::string error_scheme;  ///< for bad_scheme
    std::string error_password;
    std::size_t first_line = 0;  ///< for duplicate
};

std::string_view next_field(std::string_view& rest) {
    const std::size_t colon = rest.find(':');
    const std::string_view f = rest.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    return f;
}

/// The documented format, read independently of passwd_file.cpp.
ref_result reference(std::string_view text) {
    ref_result r;
    std::map<std::string, std::size_t> first_lines;
    std::size_t number = 0;
    while (!text.empty()) {
        ++number;
        const std::size_t lf = text.find('\n');
        std::string_view line = text.substr(0, lf);
        text = lf == std::string_view::npos ? std::string_view{} : text.substr(lf + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        r.lines = number;
        if (r.error != ref_error_kind::none) continue;
        const bool blank =
            std::all_of(line.begin(), line.end(), [](char c) { return c == ' ' || c == '\t'; });
        if (blank || line.front() == '#') continue;
        auto fail = [&](ref_error_kind k) {
            r.error = k;
            r.error_line = number;
        };
        r.error_user.clear();
        r.error_password.clear();
        if (contains(line, std::string_view("\0", 1))) {
            fail(ref_error_kind::nul);
            continue;
        }
        std::string_view rest = line;
        ref_entry e;
        e.line = number;
        const bool has_colon = contains(line, ":");
        e.user = next_field(rest);
        if (e.user.empty()) {
            fail(ref_error_kind::empty_user);
            continue;
        }
        if (!has_colon) {
            fail(ref_error_kind::no_password);
            continue;
        }
        e.password = next_field(rest);
        r.error_password = e.password;
        r.error_user = e.user;
        const auto parts = split_scheme(e.password);
        if (!parts) {
            fail(ref_error_kind::bad_password);
            continue;
        }
        if (!is_known_scheme(parts->scheme)) {
            r.error_scheme = parts->scheme;
            fail(ref_error_kind::bad_scheme);
            continue;
        }
        for (auto& f : e.fields)
            f = next_field(rest);
        while (!rest.empty()) {
            const std::size_t start = rest.find_first_not_of(" \t");
            if (start == std::string_view::npos) break;
            rest.remove_prefix(start);
            const std::size_t end = rest.find_first_of(" \t");
            e.extra.emplace_back(rest.substr(0, end));
            rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
        }
        if (const auto dup = first_lines.find(e.user); dup != first_lines.end()) {
            r.first_line = dup->second;
            fail(ref_error_kind::duplicate);
            continue;
        }
        first_lines.emplace(e.user, number);
        r.entries.push_back(std::move(e));
    }
    return r;
}

/// How the message of each kind of error begins.
std::vector<std::string_view> message_starts(ref_error_kind k) {
    switch (k) {
        case ref_error_kind::nul:
            return {"NUL byte"};
        case ref_error_kind::empty_user:
            return {"empty user name"};
        case ref_error_kind::no_password:
            return {"missing password field"};
        case ref_error_kind::bad_password:
            return {"empty password field", "password has no {SCHEME} prefix"};
        case ref_error_kind::bad_scheme:
            return {"malformed password scheme", "unknown password scheme"};
        case ref_error_kind::duplicate:
            return {"duplicate user"};
        case ref_error_kind::none:
            break;
    }
    return {};
}

/// Checks the parse of `text` against the reference; @return the reference.
ref_result check_file(std::string_view text) {
    ref_result ref = reference(text);
    const passwd_parse_result got = parse_passwd(text);
    if (ref.error == ref_error_kind::none) {
        const auto* db = std::get_if<passwd_db>(&got);
        require(db != nullptr);
        require(db->size() == ref.entries.size() && db->empty() == ref.entries.empty());
        for (const ref_entry& e : ref.entries) {
            const passwd_entry* p = db->find(e.user);
            require(p != nullptr);
            require(p->user == e.user && p->password == e.password);
            require(p->uid == e.fields[0] && p->gid == e.fields[1] && p->gecos == e.fields[2] &&
                    p->home == e.fields[3] && p->shell == e.fields[4]);
            require(p->extra_fields == e.extra);
            require(!contains(p->user, ":") && !contains(p->password, ":"));
            for (const std::string* f :
                 {&p->user, &p->password, &p->uid, &p->gid, &p->gecos, &p->home, &p->shell}) {
                require(!contains(*f, "\n") && !contains(*f, std::string_view("\0", 1)));
            }
            for (const auto& x : p->extra_fields) {
                require(!x.empty() && x.find_first_of(" \t\n") == std::string::npos);
            }
            const auto parts = split_scheme(p->password);
            require(parts && is_known_scheme(parts->scheme));
            // Exact and case-sensitive: a different name finds another user or none.
            const std::string other = upper(e.user);
            const passwd_entry* q = db->find(other);
            require(q == nullptr || q->user == other);
        }
        require(db->find("") == nullptr);
        return ref;
    }
    const auto* err = std::get_if<passwd_error>(&got);
    require(err != nullptr);
    require(err->line == ref.error_line && err->line >= 1 && err->line <= ref.lines);
    const std::vector<std::string_view> starts = message_starts(ref.error);
    require(std::any_of(starts.begin(), starts.end(),
                        [&](std::string_view s) { return err->message.starts_with(s); }));
    if (ref.error == ref_error_kind::duplicate) {
        require(contains(err->message, "(first on line " + std::to_string(ref.first_line) + ")"));
    }
    // Never the password: the field may show up only inside what the
    // message names anyway (a template, the user, the scheme).
    const std::string_view pw = ref.error_password;
    if (pw.size() >= 2 && contains(err->message, pw)) {
        static constexpr std::string_view templates[] = {
            "empty password field (expected {SCHEME}data)",
            "password has no {SCHEME} prefix",
            "malformed password scheme",
            "unknown password scheme",
            "duplicate user",
            "(first on line"};
        const bool named =
            contains(ref.error_user, pw) || contains(core::quoted(ref.error_user), pw) ||
            contains(ref.error_scheme, pw) ||
            std::all_of(pw.begin(), pw.end(),
                        [](char c) { return (c >= '0' && c <= '9') || c == ' ' || c == ')'; }) ||
            std::any_of(std::begin(templates), std::end(templates),
                        [&](std::string_view t) { return contains(t, pw); });
        require(named);
    }
    return ref;
}

/// The same result: equal entries, or the same error.
bool same_result(const passwd_parse_result& a, const passwd_parse_result& b,
                 const ref_result& ref) {
    if (a.index() != b.index()) return false;
    if (const auto* ea = std::get_if<passwd_error>(&a)) {
        const auto& eb = std::get<passwd_error>(b);
        return ea->line == eb.line && ea->message == eb.message;
    }
    const auto& da = std::get<passwd_db>(a);
    const auto& db = std::get<passwd_db>(b);
    if (da.size() != db.size()) return false;
    for (const ref_entry& e : ref.entries) {
        const passwd_entry* x = da.find(e.user);
        const passwd_entry* y = db.find(e.user);
        if (x == nullptr || y == nullptr || x->password != y->password || x->uid != y->uid ||
            x->gid != y->gid || x->gecos != y->gecos || x->home != y->home ||
            x->shell != y->shell || x->extra_fields != y->extra_fields) {
            return false;
        }
    }
    return true;
}

constexpr std::string_view full_line =
    "zz-appended:{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=:1000:1000::/home/z:/bin/sh:"
    "userdb_quota_rule=*:storage=1G nopassword";

const std::string_view appended_lines[] = {
    "zz-appended:{PLAIN}secret",
    full_line,
    "# a comment",
    "zz-no-password",
    ":{PLAIN}x",
    "zz-appended:secret-without-scheme",
    "zz-appended:{NOPE}x",
    "",  // replaced by a copy of the first entry's line: a duplicate
};

void fuzz_file(std::uint8_t sel, std::string_view text) {
    const ref_result ref = check_file(text);
    const passwd_parse_result whole = parse_passwd(text);

    // The lines before the first error are a good file of their own.
    if (ref.error != ref_error_kind::none) {
        std::size_t start = 0;
        for (std::size_t n = 1; n < ref.error_line; ++n)
            start = text.find('\n', start) + 1;
        require(std::holds_alternative<passwd_db>(parse_passwd(text.substr(0, start))));
    }

    // CRLF line ends change nothing.
    if (!contains(text, "\r")) {
        std::string crlf;
        for (const char c : text) {
            if (c == '\n') crlf.push_back('\r');
            crlf.push_back(c);
        }
        require(same_result(whole, parse_passwd(crlf), ref));
    }

    // A line appended: the reference still holds, and what parsed before
    // parses the same (an error stays the same error).
    std::string appended(text);
    std::string_view line = appended_lines[(sel >> 1) & 7U];
    std::string dup;
    if (line.empty() && !ref.entries.empty()) {
        dup = ref.entries.front().user + ":" + ref.entries.front().password;
        line = dup;
    }
    appended.append("\n").append(line);
    const ref_result ref2 = check_file(appended);
    const passwd_parse_result more = parse_passwd(appended);
    if (const auto* e = std::get_if<passwd_error>(&whole)) {
        const auto* e2 = std::get_if<passwd_error>(&more);
        require(e2 != nullptr && e2->line == e->line && e2->message == e->message);
    } else if (const auto* db2 = std::get_if<passwd_db>(&more)) {
        const auto& db = std::get<passwd_db>(whole);
        require(db2->size() >= db.size());
        for (const ref_entry& e : ref.entries) {
            const passwd_entry* p = db2->find(e.user);
            require(p != nullptr && p->password == e.password);
        }
    } else if (!dup.empty()) {
        require(ref2.error == ref_error_kind::duplicate);
    }

    // Each good line on its own is a file with that one user.
    if (ref.error == ref_error_kind::none) {
        std::size_t checked = 0;
        std::size_t start = 0;
        std::size_t number = 0;
        while (start < text.size() && checked < 8) {
            ++number;
            const std::size_t lf = text.find('\n', start);
            const std::string_view l =
                text.substr(start, lf == std::string_view::npos ? lf : lf - start);
            start = lf == std::string_view::npos ? text.size() : lf + 1;
            const auto it = std::find_if(ref.entries.begin(), ref.entries.end(),
                                         [&](const ref_entry& e) { return e.line == number; });
            if (it == ref.entries.end()) continue;
            ++checked;
            const passwd_parse_result one = parse_passwd(l);
            const auto* db = std::get_if<passwd_db>(&one);
            require(db != nullptr && db->size() == 1);
            const passwd_entry* p = db->find(it->user);
            require(p != nullptr && p->password == it->password && p->extra_fields == it->extra);
        }
    }
}

// --- stored passwords --------------------------------------------------------

bool parse_u32(std::string_view text, std::uint32_t& out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size() && !text.empty();
}

/// Argon2 data ("$argon2id$v=19$m=..,t=..,p=..$salt$hash"): cheap unless the
/// parameters password_scheme.cpp would accept ask for real work.
bool argon2_cheap(std::string_view data) {
    std::string_view rest = data;
    if (rest.starts_with("$argon2id$")) {
        rest.remove_prefix(10);
    } else if (rest.starts_with("$argon2i$")) {
        rest.remove_prefix(9);
    } else {
        return true;  // refused before hashing
    }
    if (rest.starts_with("v=")) {
        const std::size_t dollar = rest.find('$');
        if (dollar == std::string_view::npos) return true;
        rest.remove_prefix(dollar + 1);
    }
    std::string_view params = rest.substr(0, rest.find('$'));
    std::uint64_t m = 0;
    std::uint64_t t = 0;
    std::uint64_t p = 0;
    while (!params.empty()) {
        const std::size_t comma = params.find(',');
        const std::string_view item = params.substr(0, comma);
        params = comma == std::string_view::npos ? std::string_view{} : params.substr(comma + 1);
        std::uint32_t v = 0;
        if (item.size() < 3 || item[1] != '=' || !parse_u32(item.substr(2), v)) return true;
        if (item[0] == 'm') {
            m = v;
        } else if (item[0] == 't') {
            t = v;
        } else if (item[0] == 'p') {
            p = v;
        } else {
            return true;
        }
    }
    return m * t <= 4096 && p <= 4;
}

/// crypt(3) data: cheap when its method and cost are known to be small.
bool crypt_cheap(std::string_view data) {
    if (data.empty() || data[0] == '!' || data[0] == '*') return true;  // no hashing
    if (data[0] == '_') return false;  // BSDi DES: up to 2^24 rounds
    if (data[0] != '$') return true;   // traditional DES (or an error)
    if (data.starts_with("$1$") || data.starts_with("$3$")) return true;  // MD5, NT
    if (data.starts_with("$5$") || data.starts_with("$6$")) {
        const std::string_view rest = data.substr(3);
        if (!rest.starts_with("rounds=")) return true;  // 5000
        std::uint32_t rounds = 0;
        const std::string_view digits = rest.substr(7, rest.find('$') - 7);
        return digits.size() <= 5 && parse_u32(digits, rounds) && rounds <= 5000;
    }
    for (const std::string_view p : {"$2a$", "$2b$", "$2x$", "$2y$"}) {
        if (data.starts_with(p)) {
            std::uint32_t cost = 0;
            return data.size() > 6 && data[6] == '$' && parse_u32(data.substr(4, 2), cost) &&
                   cost <= 5;
        }
    }
    return data.starts_with("$y$j75$");  // yescrypt at cost 1; other methods may be slow
}

bool cheap_to_verify(std::string_view stored) {
    const auto parts = split_scheme(stored);
    if (!parts || !is_known_scheme(parts->scheme) || is_fast_scheme(stored)) return true;
    const std::string name = upper(parts->scheme);
    if (name.starts_with("ARGON2")) return argon2_cheap(parts->data);
    return crypt_cheap(parts->data);
}

bool is_status(verify_status s) {
    return s == verify_status::match || s == verify_status::mismatch || s == verify_status::error;
}

void check_hash(std::string_view scheme, std::string_view password) {
    const std::string name = upper(scheme);
    if (name == "CRYPT") return;  // libxcrypt's preferred method at its default cost: slow
    hash_options cheap;
    cheap.sha_crypt_rounds = 1000;
    cheap.blf_cost = 4;
    cheap.yescrypt_cost = 1;
    cheap.argon2_t = 1;
    cheap.argon2_m_kib = 8;
    cheap.argon2_p = 1;
    const std::optional<std::string> h = hash_password(scheme, password, cheap);
    const bool crypt_family = name.ends_with("-CRYPT") || name == "YESCRYPT";
    const bool crypt_refuses =
        contains(password, std::string_view("\0", 1)) || password.size() >= 512;
    if (crypt_family && crypt_refuses) {
        require(!h.has_value());
        return;
    }
    require(h.has_value());
    const auto parts = split_scheme(*h);
    require(parts && core::iequals(parts->scheme, scheme) && parts->scheme == upper(parts->scheme));
    require(verify_password(*h, password) == verify_status::match);
    if (is_fast_scheme(*h)) {
        require(verify_password(*h, std::string(password) + "\x01") == verify_status::mismatch);
    }
}

void fuzz_stored(std::uint8_t sel, std::string_view input) {
    const std::size_t lf = input.find('\n');
    const std::string_view stored = input.substr(0, lf);
    const std::string_view password =
        lf == std::string_view::npos ? std::string_view{} : input.substr(lf + 1);

    const auto parts = split_scheme(stored);
    const std::size_t close = stored.find('}');
    require(parts.has_value() == (stored.starts_with('{') && close != std::string_view::npos));
    if (parts) {
        require(!contains(parts->scheme, "}"));
        require("{" + std::string(parts->scheme) + "}" + std::string(parts->data) == stored);
    }
    const std::vector<std::string_view> names = known_schemes();
    const bool known = parts && std::any_of(names.begin(), names.end(), [&](std::string_view n) {
                           return core::iequals(n, parts->scheme);
                       });
    require(!parts || is_known_scheme(parts->scheme) == known);
    static constexpr std::string_view fast[] = {"PLAIN",   "CLEARTEXT", "CLEAR", "SSHA256",
                                                "SSHA512", "SHA256",    "SHA512"};
    const bool is_fast = known && std::find(std::begin(fast), std::end(fast),
                                            upper(parts->scheme)) != std::end(fast);
    require(is_fast_scheme(stored) == is_fast);

    if (cheap_to_verify(stored)) {
        const verify_status v = verify_password(stored, password);
        require(is_status(v));
        if (!known) require(v == verify_status::error);
        if (is_fast) {
            require(verify_password(stored, password) == v);
            const std::string name = upper(parts->scheme);
            if (name == "PLAIN" || name == "CLEARTEXT" || name == "CLEAR") {
                require(v ==
                        (parts->data == password ? verify_status::match : verify_status::mismatch));
            } else if (v == verify_status::match) {
                require(verify_password(stored, std::string(password) + "\x01") ==
                        verify_status::mismatch);
            }
        }
    }
    if ((sel & 2U) != 0 && known) check_hash(parts->scheme, password);
}

}  // namespace

// NOLINTNEXTLINE(readability-identifier-naming): the name libFuzzer calls
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t sel = data[0];
    const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    if ((sel & 1U) == 0) {
        fuzz_file(sel, input);
    } else {
        fuzz_stored(sel, input);
    }
    return 0;
}
