// passwd-file parsing; see passwd_file.hpp. The format follows Dovecot's
// src/auth/db-passwd-file.c, except that an empty user or a password without
// {SCHEME} is an error here instead of a skipped line or a default scheme.
#include "auth/passwd_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "auth/password_scheme.hpp"
#include "core/log.hpp"
#include "core/secret.hpp"

namespace submitd::auth {

namespace {

bool is_blank(std::string_view line) {
    return std::all_of(line.begin(), line.end(), [](char c) { return c == ' ' || c == '\t'; });
}

bool is_scheme_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

/// @return an empty string when `password` is acceptable, else the problem.
std::string check_password(std::string_view password) {
    if (password.empty()) return "empty password field (expected {SCHEME}data)";
    auto parts = split_scheme(password);
    if (!parts) return "password has no {SCHEME} prefix";
    if (!std::all_of(parts->scheme.begin(), parts->scheme.end(), is_scheme_char)) {
        return "malformed password scheme";
    }
    if (!is_known_scheme(parts->scheme)) {
        return fmt::format("unknown password scheme \"{}\"", parts->scheme);
    }
    return {};
}

/// Splits off the text up to the next ':' (or the end) and advances `rest`.
std::string take_field(std::string_view& rest) {
    auto colon = rest.find(':');
    std::string field(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    return field;
}

std::vector<std::string> split_extra_fields(std::string_view text) {
    std::vector<std::string> out;
    while (!text.empty()) {
        auto start = text.find_first_not_of(" \t");
        if (start == std::string_view::npos) break;
        text.remove_prefix(start);
        auto end = text.find_first_of(" \t");
        out.emplace_back(text.substr(0, end));
        text = end == std::string_view::npos ? std::string_view{} : text.substr(end);
    }
    return out;
}

}  // namespace

passwd_db::~passwd_db() {
    for (auto& [user, entry] : entries_)
        core::wipe(entry.password);
}

const passwd_entry* passwd_db::find(std::string_view user) const {
    auto it = entries_.find(user);
    return it == entries_.end() ? nullptr : &it->second;
}

passwd_parse_result parse_passwd(std::string_view text) {
    passwd_db db;
    // The line each user was defined on, for the duplicate message.
    std::unordered_map<std::string_view, std::size_t> first_line;
    std::size_t number = 0;
    while (!text.empty()) {
        ++number;
        auto lf = text.find('\n');
        std::string_view line = text.substr(0, lf);
        text = lf == std::string_view::npos ? std::string_view{} : text.substr(lf + 1);
        if (line.ends_with('\r')) line.remove_suffix(1);
        if (line.empty() || line.front() == '#' || is_blank(line)) continue;
        if (line.find('\0') != std::string_view::npos) return passwd_error{number, "NUL byte"};

        std::string_view rest = line;
        passwd_entry entry;
        bool has_password = rest.find(':') != std::string_view::npos;
        entry.user = take_field(rest);
        if (entry.user.empty()) return passwd_error{number, "empty user name"};
        if (!has_password) return passwd_error{number, "missing password field"};
        entry.password = take_field(rest);
        if (auto problem = check_password(entry.password); !problem.empty()) {
            core::wipe(entry.password);
            return passwd_error{number, std::move(problem)};
        }
        for (std::string* field :
             {&entry.uid, &entry.gid, &entry.gecos, &entry.home, &entry.shell}) {
            *field = take_field(rest);
        }
        entry.extra_fields = split_extra_fields(rest);

        if (auto it = first_line.find(entry.user); it != first_line.end()) {
            core::wipe(entry.password);
            return passwd_error{number, fmt::format("duplicate user {} (first on line {})",
                                                    core::quoted(entry.user), it->second)};
        }
        std::string key = entry.user;
        auto [pos, inserted] = db.entries_.emplace(std::move(key), std::move(entry));
        first_line.emplace(pos->first, number);
    }
    return db;
}

}  // namespace submitd::auth
