// Password schemes; see password_scheme.hpp. crypt(3) schemes go through
// libxcrypt's crypt_rn (reentrant, so worker threads may verify at once),
// Argon2 through libargon2, SHA digests through OpenSSL's EVP.
#include "auth/password_scheme.hpp"

#include <argon2.h>
#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <initializer_list>
#include <memory>

#include "auth/encoding.hpp"
#include "core/ascii.hpp"
#include "core/base64.hpp"
#include "core/secret.hpp"

namespace submitd::auth {

namespace {

enum class scheme_kind { plain, crypt, argon2i, argon2id, ssha256, ssha512, sha256, sha512 };

struct scheme_info {
    std::string_view name;
    scheme_kind kind;
    /// crypt(3) prefixes the data must start with; all empty: any crypt string.
    std::array<std::string_view, 3> prefixes;
    /// prefix for crypt_gensalt; nullptr: libxcrypt's preferred method.
    const char* gensalt_prefix;
};

constexpr scheme_info schemes[] = {
    {"PLAIN", scheme_kind::plain, {}, nullptr},
    {"CLEARTEXT", scheme_kind::plain, {}, nullptr},
    {"CLEAR", scheme_kind::plain, {}, nullptr},
    {"SHA512-CRYPT", scheme_kind::crypt, {"$6$"}, "$6$"},
    {"SHA256-CRYPT", scheme_kind::crypt, {"$5$"}, "$5$"},
    {"BLF-CRYPT", scheme_kind::crypt, {"$2y$", "$2b$", "$2a$"}, "$2y$"},
    {"YESCRYPT", scheme_kind::crypt, {"$y$"}, "$y$"},
    {"CRYPT", scheme_kind::crypt, {}, nullptr},
    {"ARGON2I", scheme_kind::argon2i, {}, nullptr},
    {"ARGON2ID", scheme_kind::argon2id, {}, nullptr},
    {"SSHA256", scheme_kind::ssha256, {}, nullptr},
    {"SSHA512", scheme_kind::ssha512, {}, nullptr},
    {"SHA256", scheme_kind::sha256, {}, nullptr},
    {"SHA512", scheme_kind::sha512, {}, nullptr},
};

// Argon2 parameters above these are refused as malformed: a stored string
// asking for many GiB would let one bad line exhaust memory on every AUTH.
constexpr std::uint32_t argon2_max_m_kib = 1U << 20;  // 1 GiB
constexpr std::uint32_t argon2_max_t = 256;
constexpr std::uint32_t argon2_max_p = 16;
constexpr std::size_t salt_length = 16;
constexpr std::size_t argon2_hash_length = 32;

using core::iequals;

const scheme_info* find_scheme(std::string_view name) {
    for (const auto& s : schemes) {
        if (iequals(s.name, name)) return &s;
    }
    return nullptr;
}

/// A buffer of digest bytes that wipes itself.
struct digest_buffer {
    std::array<unsigned char, EVP_MAX_MD_SIZE> bytes{};
    unsigned int size = 0;
    ~digest_buffer() { core::wipe(bytes.data(), bytes.size()); }
    std::string_view view() const { return {reinterpret_cast<const char*>(bytes.data()), size}; }
};

struct md_ctx_free {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

bool compute_digest(const EVP_MD* md, std::initializer_list<std::string_view> parts,
                    digest_buffer& out) {
    std::unique_ptr<EVP_MD_CTX, md_ctx_free> ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) return false;
    for (auto part : parts) {
        if (EVP_DigestUpdate(ctx.get(), part.data(), part.size()) != 1) return false;
    }
    return EVP_DigestFinal_ex(ctx.get(), out.bytes.data(), &out.size) == 1;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

/// The digests fetched once from OpenSSL's default provider: EVP_sha256()
/// and the like make every EVP_DigestInit_ex() look the algorithm up again
/// (OpenSSL 3). Kept for the life of the process.
const EVP_MD* sha256() {
    static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
    return md != nullptr ? md : EVP_sha256();
}

const EVP_MD* sha512() {
    static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA2-512", nullptr);
    return md != nullptr ? md : EVP_sha512();
}

const EVP_MD* digest_of(scheme_kind kind) {
    switch (kind) {
        case scheme_kind::ssha256:
        case scheme_kind::sha256:
            return sha256();
        case scheme_kind::ssha512:
        case scheme_kind::sha512:
            return sha512();
        default:
            return nullptr;
    }
}

std::optional<std::string> random_bytes(std::size_t n) {
    std::string out(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
        return std::nullopt;
    }
    return out;
}

// --- verification ---------------------------------------------------------

verify_status verify_plain(std::string_view data, std::string_view password) {
    // Compare digests so that neither the length nor the first differing
    // byte of the stored password shows in the timing.
    digest_buffer want;
    digest_buffer got;
    if (!compute_digest(sha256(), {data}, want) || !compute_digest(sha256(), {password}, got)) {
        return verify_status::error;
    }
    return equal_constant_time(want.view(), got.view()) ? verify_status::match
                                                        : verify_status::mismatch;
}

bool crypt_accepts(std::string_view password) {
    return password.find('\0') == std::string_view::npos &&
           password.size() < CRYPT_MAX_PASSPHRASE_SIZE;
}

verify_status verify_crypt(const scheme_info& scheme, std::string_view data,
                           std::string_view password) {
    bool any = scheme.prefixes[0].empty();
    bool prefix_ok =
        any || std::any_of(scheme.prefixes.begin(), scheme.prefixes.end(),
                           [&](std::string_view p) { return !p.empty() && data.starts_with(p); });
    if (!prefix_ok) return verify_status::error;
    // "!" and "*" lock an account in shadow(5) style; no password matches.
    if (!data.empty() && (data[0] == '!' || data[0] == '*')) return verify_status::mismatch;
    if (data.empty() || data.size() >= CRYPT_OUTPUT_SIZE ||
        data.find('\0') != std::string_view::npos) {
        return verify_status::error;
    }
    // crypt(3) reads C strings: a NUL would cut the password short.
    if (!crypt_accepts(password)) return verify_status::mismatch;

    std::string phrase(password);
    std::string setting(data);
    auto work = std::make_unique<crypt_data>();
    const char* out = crypt_rn(phrase.c_str(), setting.c_str(), work.get(), sizeof(crypt_data));
    verify_status status = verify_status::error;
    if (out != nullptr) {
        status = equal_constant_time(out, data) ? verify_status::match : verify_status::mismatch;
    }
    core::wipe(phrase);
    core::wipe(work.get(), sizeof(crypt_data));
    return status;
}

bool parse_u32(std::string_view text, std::uint32_t& out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size() && !text.empty();
}

/// Checks the "m=..,t=..,p=.." part of a PHC string against our limits.
bool argon2_params_acceptable(std::string_view rest) {
    if (rest.starts_with("v=")) {
        auto dollar = rest.find('$');
        if (dollar == std::string_view::npos) return false;
        rest.remove_prefix(dollar + 1);
    }
    auto params = rest.substr(0, rest.find('$'));
    std::uint32_t m = 0;
    std::uint32_t t = 0;
    std::uint32_t p = 0;
    while (!params.empty()) {
        auto comma = params.find(',');
        auto item = params.substr(0, comma);
        params = comma == std::string_view::npos ? std::string_view{} : params.substr(comma + 1);
        if (item.size() < 3 || item[1] != '=') return false;
        std::uint32_t* slot = item[0] == 'm'   ? &m
                              : item[0] == 't' ? &t
                              : item[0] == 'p' ? &p
                                               : nullptr;
        if (slot == nullptr || !parse_u32(item.substr(2), *slot)) return false;
    }
    return m > 0 && m <= argon2_max_m_kib && t > 0 && t <= argon2_max_t && p > 0 &&
           p <= argon2_max_p;
}

verify_status verify_argon2(argon2_type type, std::string_view data, std::string_view password) {
    std::string_view prefix = type == Argon2_id ? "$argon2id$" : "$argon2i$";
    if (!data.starts_with(prefix) || data.find('\0') != std::string_view::npos ||
        !argon2_params_acceptable(data.substr(prefix.size()))) {
        return verify_status::error;
    }
    std::string encoded(data);
    int rc = argon2_verify(encoded.c_str(), password.data(), password.size(), type);
    if (rc == ARGON2_OK) return verify_status::match;
    if (rc == ARGON2_VERIFY_MISMATCH) return verify_status::mismatch;
    return verify_status::error;
}

verify_status verify_salted(const EVP_MD* md, std::string_view data, std::string_view password) {
    auto raw = base64_decode(data);
    auto n = static_cast<std::size_t>(EVP_MD_get_size(md));
    if (!raw || raw->size() < n) return verify_status::error;
    std::string_view bytes = *raw;
    digest_buffer got;
    if (!compute_digest(md, {password, bytes.substr(n)}, got)) return verify_status::error;
    return equal_constant_time(got.view(), bytes.substr(0, n)) ? verify_status::match
                                                               : verify_status::mismatch;
}

verify_status verify_unsalted(const EVP_MD* md, std::string_view data, std::string_view password) {
    auto n = static_cast<std::size_t>(EVP_MD_get_size(md));
    // Dovecot accepts hex where the length gives it away.
    std::optional<std::string> raw = data.size() == 2 * n ? hex_decode(data) : std::nullopt;
    if (!raw) raw = base64_decode(data);
    if (!raw || raw->size() != n) return verify_status::error;
    digest_buffer got;
    if (!compute_digest(md, {password}, got)) return verify_status::error;
    return equal_constant_time(got.view(), *raw) ? verify_status::match : verify_status::mismatch;
}

// --- hashing ---------------------------------------------------------------

std::optional<std::string> hash_crypt(const scheme_info& scheme, std::string_view password,
                                      const hash_options& options) {
    if (!crypt_accepts(password)) return std::nullopt;
    unsigned long count = 0;
    std::string_view prefix = scheme.gensalt_prefix ? scheme.gensalt_prefix : "";
    if (prefix == "$6$" || prefix == "$5$") count = options.sha_crypt_rounds;
    if (prefix == "$2y$") count = options.blf_cost;
    if (prefix == "$y$") count = options.yescrypt_cost;

    auto rbytes = random_bytes(salt_length);
    if (!rbytes) return std::nullopt;
    std::unique_ptr<char, decltype(&std::free)> setting(
        crypt_gensalt_ra(scheme.gensalt_prefix, count, rbytes->data(),
                         static_cast<int>(rbytes->size())),
        &std::free);
    core::wipe(*rbytes);
    if (!setting) return std::nullopt;

    std::string phrase(password);
    auto work = std::make_unique<crypt_data>();
    const char* out = crypt_rn(phrase.c_str(), setting.get(), work.get(), sizeof(crypt_data));
    std::optional<std::string> result;
    if (out != nullptr) result = std::string(out);
    core::wipe(phrase);
    core::wipe(work.get(), sizeof(crypt_data));
    return result;
}

std::optional<std::string> hash_argon2(argon2_type type, std::string_view password,
                                       const hash_options& options) {
    auto salt = random_bytes(salt_length);
    if (!salt) return std::nullopt;
    std::size_t length = argon2_encodedlen(options.argon2_t, options.argon2_m_kib, options.argon2_p,
                                           salt_length, argon2_hash_length, type);
    std::string encoded(length, '\0');
    int rc = argon2_hash(options.argon2_t, options.argon2_m_kib, options.argon2_p, password.data(),
                         password.size(), salt->data(), salt->size(), nullptr, argon2_hash_length,
                         encoded.data(), encoded.size(), type, ARGON2_VERSION_NUMBER);
    if (rc != ARGON2_OK) return std::nullopt;
    encoded.resize(std::strlen(encoded.c_str()));
    return encoded;
}

std::optional<std::string> hash_digest(const EVP_MD* md, bool salted, std::string_view password) {
    std::string salt;
    if (salted) {
        auto bytes = random_bytes(salt_length);
        if (!bytes) return std::nullopt;
        salt = std::move(*bytes);
    }
    digest_buffer digest;
    if (!compute_digest(md, {password, salt}, digest)) return std::nullopt;
    std::string raw(digest.view());
    raw += salt;
    std::string out = core::base64_encode(raw);
    core::wipe(raw);
    return out;
}

}  // namespace

std::optional<scheme_and_data> split_scheme(std::string_view stored) {
    if (!stored.starts_with('{')) return std::nullopt;
    auto close = stored.find('}');
    if (close == std::string_view::npos) return std::nullopt;
    return scheme_and_data{stored.substr(1, close - 1), stored.substr(close + 1)};
}

verify_status verify_password(std::string_view stored, std::string_view password) {
    auto parts = split_scheme(stored);
    if (!parts) return verify_status::error;
    const scheme_info* scheme = find_scheme(parts->scheme);
    if (scheme == nullptr) return verify_status::error;
    auto data = parts->data;
    switch (scheme->kind) {
        case scheme_kind::plain:
            return verify_plain(data, password);
        case scheme_kind::crypt:
            return verify_crypt(*scheme, data, password);
        case scheme_kind::argon2i:
            return verify_argon2(Argon2_i, data, password);
        case scheme_kind::argon2id:
            return verify_argon2(Argon2_id, data, password);
        case scheme_kind::ssha256:
        case scheme_kind::ssha512:
            return verify_salted(digest_of(scheme->kind), data, password);
        case scheme_kind::sha256:
        case scheme_kind::sha512:
            return verify_unsalted(digest_of(scheme->kind), data, password);
    }
    return verify_status::error;
}

std::optional<std::string> hash_password(std::string_view scheme_name, std::string_view password,
                                         const hash_options& options) {
    const scheme_info* scheme = find_scheme(scheme_name);
    if (scheme == nullptr) return std::nullopt;
    std::optional<std::string> data;
    switch (scheme->kind) {
        case scheme_kind::plain:
            data = std::string(password);
            break;
        case scheme_kind::crypt:
            data = hash_crypt(*scheme, password, options);
            break;
        case scheme_kind::argon2i:
            data = hash_argon2(Argon2_i, password, options);
            break;
        case scheme_kind::argon2id:
            data = hash_argon2(Argon2_id, password, options);
            break;
        case scheme_kind::ssha256:
        case scheme_kind::ssha512:
            data = hash_digest(digest_of(scheme->kind), true, password);
            break;
        case scheme_kind::sha256:
        case scheme_kind::sha512:
            data = hash_digest(digest_of(scheme->kind), false, password);
            break;
    }
    if (!data) return std::nullopt;
    std::string out;
    out.reserve(scheme->name.size() + 2 + data->size());
    out.append("{").append(scheme->name).append("}").append(*data);
    core::wipe(*data);
    return out;
}

bool is_fast_scheme(std::string_view stored) {
    auto parts = split_scheme(stored);
    if (!parts) return false;
    const scheme_info* s = find_scheme(parts->scheme);
    if (s == nullptr) return false;
    switch (s->kind) {
        case scheme_kind::plain:
        case scheme_kind::ssha256:
        case scheme_kind::ssha512:
        case scheme_kind::sha256:
        case scheme_kind::sha512:
            return true;
        case scheme_kind::crypt:
        case scheme_kind::argon2i:
        case scheme_kind::argon2id:
            return false;
    }
    return false;
}

bool is_known_scheme(std::string_view scheme) {
    return find_scheme(scheme) != nullptr;
}

std::vector<std::string_view> known_schemes() {
    std::vector<std::string_view> names;
    for (const auto& s : schemes) {
        if (std::find(names.begin(), names.end(), s.name) == names.end()) names.push_back(s.name);
    }
    return names;
}

}  // namespace submitd::auth
