// Password schemes as Dovecot stores them: "{SCHEME}data", the scheme name
// case-insensitive. verify_password() checks a password against such a string
// and hash_password() makes one with a fresh random salt, so hashes from
// `doveadm pw`, mkpasswd(1) and openssl-passwd(1) work unchanged.
//
// Schemes (Dovecot's names and data formats):
//   PLAIN, CLEARTEXT, CLEAR   the password itself
//   SHA512-CRYPT ($6$), SHA256-CRYPT ($5$), BLF-CRYPT ($2y$, $2b$, $2a$),
//   YESCRYPT ($y$)            crypt(3) strings, checked by libxcrypt
//   CRYPT                     any crypt(3) string libxcrypt knows
//   ARGON2I, ARGON2ID         PHC strings ($argon2i$v=19$m=..,t=..,p=..$salt$hash)
//   SSHA256, SSHA512          base64(digest(password || salt) || salt)
//   SHA256, SHA512            base64 (or hex) of the unsalted digest
//
// Comparisons are constant-time, temporaries holding the password are wiped,
// and nothing here logs. A malformed stored string is verify_status::error,
// never a crash. It does not know the "{SCHEME.HEX}" encoding suffixes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace submitd::auth {

enum class verify_status {
    match,     ///< the password is right
    mismatch,  ///< the password is wrong
    error,     ///< the stored string is malformed or names an unknown scheme
};

/// Costs for the tunable schemes in hash_password(). The defaults are
/// doveadm's, except BLF-CRYPT, whose cost 5 is too cheap today.
struct hash_options {
    unsigned long sha_crypt_rounds = 0;  ///< 0: libxcrypt's default (5000)
    unsigned long blf_cost = 10;         ///< bcrypt log2 rounds, 4..31
    unsigned long yescrypt_cost = 0;     ///< 0: libxcrypt's default (5)
    std::uint32_t argon2_t = 3;          ///< iterations
    std::uint32_t argon2_m_kib = 65536;  ///< memory in KiB
    std::uint32_t argon2_p = 1;          ///< lanes
};

/// "{SCHEME}data" split at the first '}'.
struct scheme_and_data {
    std::string_view scheme;  ///< as written (not upper-cased); may be empty
    std::string_view data;
};

/// @return the parts of `stored`, or nullopt when it does not start with "{"
/// or has no "}".
std::optional<scheme_and_data> split_scheme(std::string_view stored);

/// Checks `password` against `stored` ("{SCHEME}data").
/// @return verify_status::error for an unknown scheme or malformed data.
verify_status verify_password(std::string_view stored, std::string_view password);

/// Hashes `password` with `scheme` (case-insensitive) and a fresh salt from
/// RAND_bytes.
/// @return "{SCHEME}data" with the scheme upper-cased, or nullopt for an
/// unknown scheme, a password the scheme cannot take (crypt(3) schemes refuse
/// a NUL byte or more than 511 bytes), or a failure of the library.
std::optional<std::string> hash_password(std::string_view scheme, std::string_view password,
                                         const hash_options& options = {});

/// @return true when checking a password against `stored` ("{SCHEME}data")
/// costs one plain digest at most (PLAIN, SHA256, SSHA512...), as opposed to
/// a deliberately slow hash (crypt(3) schemes, Argon2): cheap enough to do
/// on an event loop.
bool is_fast_scheme(std::string_view stored);

/// @return true when `scheme` (without braces, case-insensitive) is one of ours.
bool is_known_scheme(std::string_view scheme);

/// @return the upper-case names of all schemes, aliases included.
std::vector<std::string_view> known_schemes();

}  // namespace submitd::auth
