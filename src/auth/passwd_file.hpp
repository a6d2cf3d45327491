// Dovecot's passwd-file format, parsed from text into an immutable table:
//
//     user:password:uid:gid:gecos:home:shell:extra_fields
//
// One user per line; only user and password are required, later fields may
// be left out. Everything after the seventh ':' is the extra fields, split at
// spaces (Dovecot joins the rest of the line, so ':' may appear in them).
// Lines that are empty, blank or start with '#' are skipped; a CR before the
// LF is dropped. The password must be "{SCHEME}data" with a scheme that
// password_scheme knows: unlike Dovecot there is no default scheme, so a bare
// crypt string is an error rather than a silent guess.
//
// Errors name the 1-based line and the problem, never the password: an empty
// user, a missing password field, a password without {SCHEME}, an unknown
// scheme, a duplicate user, a NUL byte. This file does no I/O; see
// passwd_file_passdb.hpp for loading and reloading a file.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

namespace submitd::auth {

struct passwd_entry {
    std::string user;
    std::string password;  ///< "{SCHEME}data"; never log it
    std::string uid;
    std::string gid;
    std::string gecos;
    std::string home;
    std::string shell;
    std::vector<std::string> extra_fields;  ///< "key=value" or "key", as written
};

struct passwd_error {
    std::size_t line = 0;  ///< 1-based; 0 when the error is not about one line
    std::string message;   ///< no secret in it
};

/// The users of one passwd-file. Immutable once parsed; the destructor wipes
/// the password fields.
class passwd_db {
public:
    passwd_db() = default;
    passwd_db(passwd_db&&) noexcept = default;
    passwd_db& operator=(passwd_db&&) noexcept = default;
    passwd_db(const passwd_db&) = delete;
    passwd_db& operator=(const passwd_db&) = delete;
    ~passwd_db();

    /// @return the entry whose user is exactly `user` (case-sensitive), or
    /// nullptr. The pointer lives as long as this db.
    const passwd_entry* find(std::string_view user) const;

    std::size_t size() const { return entries_.size(); }
    bool empty() const { return entries_.empty(); }

private:
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const {
            return std::hash<std::string_view>{}(s);
        }
    };

    friend std::variant<passwd_db, passwd_error> parse_passwd(std::string_view text);

    std::unordered_map<std::string, passwd_entry, string_hash, std::equal_to<>> entries_;
};

/// Either the parsed table or the first error found (parsing stops there).
using passwd_parse_result = std::variant<passwd_db, passwd_error>;

/// Parses the whole text of a passwd-file.
passwd_parse_result parse_passwd(std::string_view text);

}  // namespace submitd::auth
