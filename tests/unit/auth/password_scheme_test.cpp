// Password schemes against hashes made by other tools (doveadm pw 2.3,
// mkpasswd 5.5 from whois, OpenSSL 3.0 passwd), hash/verify round trips, and
// malformed stored strings.
#include "auth/password_scheme.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <ostream>
#include <string>

namespace submitd::auth {

// For readable gtest failures (ADL finds it in the enum's namespace); gtest
// fixes the name.
// NOLINTNEXTLINE(readability-identifier-naming)
inline void PrintTo(verify_status status, std::ostream* os) {
    switch (status) {
        case verify_status::match:
            *os << "match";
            break;
        case verify_status::mismatch:
            *os << "mismatch";
            break;
        case verify_status::error:
            *os << "error";
            break;
    }
}

namespace {

// The password all foreign hashes below were made from (UTF-8).
constexpr std::string_view password = "s3cret p\xc3\xa4ssw\xc3\xb6rd";
constexpr std::string_view wrong = "s3cret p\xc3\xa4ssw\xc3\xb6rD";

struct foreign_case {
    const char* tool;
    const char* stored;
};

// clang-format off
const foreign_case foreign_hashes[] = {
    {"doveadm pw -s SHA512-CRYPT", "{SHA512-CRYPT}$6$Azd09NguY8Bwmq0g$5eQJQWjHeByxSEanuuKmvA2R0xp73BjTQJtLLIQDHscGLLN0cGuMX28Olky0/pmomRzCXQR5DLQs4Lt.jeks20"},
    {"doveadm pw -s SHA256-CRYPT", "{SHA256-CRYPT}$5$0e8Vou9rPaGD3oRh$IqdHMN.WNq9mlm0jrsILBqN3/u3EKuGi5ts/uVGWsK6"},
    {"doveadm pw -s BLF-CRYPT", "{BLF-CRYPT}$2y$05$3ZJBUjhiE9v4JteEqnPmZOySPiEfT4SoSSXiKdyCZoh7GpvR4RVvG"},
    {"doveadm pw -s BLF-CRYPT -r 8", "{BLF-CRYPT}$2y$08$c5RRwXUphI1B6eHzQxBfE.Xuoe8RcdmtPBNY6y1Lfno1MmwxBIssW"},
    {"doveadm pw -s ARGON2I", "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$i0R3mwYdjnyAAcPJxhUC4Q$tFs9vfynwyqi68i0fmdronXHZGQV09zhQHo0EFMOVVE"},
    {"doveadm pw -s ARGON2ID", "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$yeyxX+5faBTWAiQZLkkg9g$504PyenNzgcXdWBRJ2tFlzj1HFEPjdH/CKG1wRdF5s8"},
    {"doveadm pw -s SSHA256", "{SSHA256}YvT67pVYvHYjcLgQXGmR+x/8uJtROIyxbEGLtZw6J7vHhtNd"},
    {"doveadm pw -s SSHA512", "{SSHA512}2rooMjz5be5IT/UGCqmeJVk0+gSs6BEagjayWVozVmR63yc6O/zeYkjgXbweQODYsmX5Y6tjzjMR9DMzTOHWTv3A6Ps="},
    {"doveadm pw -s SHA256", "{SHA256}ZyYKJ2jhK99stPfIQUYPEF/WDO3Of99RMIQlgU09Pk0="},
    {"doveadm pw -s SHA512", "{SHA512}p+ieeddAhNAhFSPvadBLZ4KPpStPBjs2XghnbcC/LhGLvqxcUkfSmoqhI6iwsJAHdUkZdir/7MShhokDvpxk6g=="},
    {"doveadm pw -s PLAIN", "{PLAIN}s3cret p\xc3\xa4ssw\xc3\xb6rd"},
    {"doveadm pw -s CLEARTEXT", "{CLEARTEXT}s3cret p\xc3\xa4ssw\xc3\xb6rd"},
    {"doveadm pw -s CRYPT", "{CRYPT}$2y$05$wrLBG4OJT6u8NJ7s7jnQgOuSjHjftfokLZljeDYtCpqsFU1yrHCGe"},
    {"mkpasswd -m yescrypt", "{YESCRYPT}$y$j9T$dacvS8LFPC/I3Cj/U5wcK1$FoN9wd.ijV4skZp3w3SaJFDrJo5E59IG1C69qgjWyF."},
    {"mkpasswd -m yescrypt", "{CRYPT}$y$j9T$dacvS8LFPC/I3Cj/U5wcK1$FoN9wd.ijV4skZp3w3SaJFDrJo5E59IG1C69qgjWyF."},
    {"mkpasswd -m sha-512", "{SHA512-CRYPT}$6$l.lHr6/ngSfARshr$GvVS6LPZ8U8YJqMNrzUQHNO5NQ1HOY0qGuYjB0FyHub2aEkx2Kf/mbBg8KrB.n.snMJr6DdmyhLAZdIlXqXXK/"},
    {"mkpasswd -m sha-512 -R 10000", "{SHA512-CRYPT}$6$rounds=10000$DRrMUN788N2H0n5H$zxY61EEPj5a4W.9UiRwDRDrgcNoHSnShOWtuX95YjUsnkj70wXKZhufjDuEhCGK47NEh9KTfFzyLu3uw162oo0"},
    {"mkpasswd -m sha-256", "{SHA256-CRYPT}$5$Y0ejG6ezlICAqtss$k5EJqh.WgLUmvw46lqdYxYRHfqSClODvwTUemaKo522"},
    {"mkpasswd -m bcrypt", "{BLF-CRYPT}$2b$05$FTQmjUdCkz2zd3dRVX0NPuSWSUPs7EYMME.yDL7bPaxPBHftOO5tq"},
    {"mkpasswd -m bcrypt-a", "{BLF-CRYPT}$2a$05$Yynva.eeW7C4sU2B5BCzgexM3EAjlc7uji3XFIG4aS5JfpWpXiqJO"},
    {"mkpasswd -m md5crypt", "{CRYPT}$1$Ef2x5Qo1$yvJw.MpTdTCkuUyzBuF0i/"},
    {"openssl passwd -6", "{SHA512-CRYPT}$6$l0hqKp5zEo8QIQeI$owqGNDj856jvJ98C3b3sEBbIZc5VHMU8FM1jZ0YjKeSAepWnTisIefEu4eScF/JU1IT/hJpsSmIylKI6f5iQ4."},
    {"openssl passwd -5", "{SHA256-CRYPT}$5$g9XjQpCzEg/hIytM$VCg19CDEqhzrHI5KK05OT8NzPovioWDOZgoSr4vKIa."},
    // doveadm's SHA256 above without its padding: some tools strip it.
    {"doveadm pw -s SHA256, '=' removed", "{SHA256}ZyYKJ2jhK99stPfIQUYPEF/WDO3Of99RMIQlgU09Pk0"},
    {"openssl passwd -1", "{CRYPT}$1$fXRuL93K$CsODDlPGN8JRbhgWv.lt60"},
    // sha256sum of the password, hex: Dovecot reads hex where the length says so.
    {"printf %s PASSWORD | sha256sum", "{SHA256}67260a2768e12bdf6cb4f7c841460f105fd60cedce7fdf51308425814d3d3e4d"},
};
// clang-format on

class foreign_hash_test : public testing::TestWithParam<foreign_case> {};

TEST_P(foreign_hash_test, right_password_matches) {
    EXPECT_EQ(verify_password(GetParam().stored, password), verify_status::match)
        << GetParam().tool;
}

TEST_P(foreign_hash_test, wrong_password_mismatches) {
    EXPECT_EQ(verify_password(GetParam().stored, wrong), verify_status::mismatch)
        << GetParam().tool;
    EXPECT_EQ(verify_password(GetParam().stored, ""), verify_status::mismatch) << GetParam().tool;
}

INSTANTIATE_TEST_SUITE_P(tools, foreign_hash_test, testing::ValuesIn(foreign_hashes));

TEST(password_scheme, scheme_name_is_case_insensitive) {
    EXPECT_EQ(verify_password("{plain}abc", "abc"), verify_status::match);
    EXPECT_EQ(verify_password("{Sha256-Crypt}$5$g9XjQpCzEg/hIytM$VCg19CDEqhzrHI5KK05OT8NzPovioWDO"
                              "ZgoSr4vKIa.",
                              password),
              verify_status::match);
    EXPECT_TRUE(is_known_scheme("argon2id"));
    EXPECT_TRUE(is_known_scheme("CLEARTEXT"));
    EXPECT_FALSE(is_known_scheme("MD5-CRYPT"));
    EXPECT_FALSE(is_known_scheme(""));
    EXPECT_FALSE(is_known_scheme("{PLAIN}"));
}

TEST(password_scheme, known_schemes_are_unique_and_known) {
    auto names = known_schemes();
    EXPECT_GE(names.size(), 14U);
    for (auto name : names) {
        EXPECT_TRUE(is_known_scheme(name)) << name;
        EXPECT_EQ(std::count(names.begin(), names.end(), name), 1) << name;
    }
}

TEST(password_scheme, plain_compares_whole_password) {
    EXPECT_EQ(verify_password("{PLAIN}secret", "secret"), verify_status::match);
    EXPECT_EQ(verify_password("{PLAIN}secret", "secre"), verify_status::mismatch);
    EXPECT_EQ(verify_password("{PLAIN}secret", "secrett"), verify_status::mismatch);
    EXPECT_EQ(verify_password("{PLAIN}", ""), verify_status::match);
    EXPECT_EQ(verify_password(std::string("{PLAIN}a\0b", 10), std::string("a\0b", 3)),
              verify_status::match);
}

TEST(password_scheme, crypt_refuses_nul_in_password) {
    // crypt(3) would stop at the NUL and accept "s3cret p..." + anything.
    std::string with_nul(password);
    with_nul += std::string("\0junk", 5);
    EXPECT_EQ(verify_password(foreign_hashes[0].stored, with_nul), verify_status::mismatch);
}

TEST(password_scheme, bcrypt_truncates_at_72_bytes) {
    // A property of bcrypt itself, checked so that nobody is surprised.
    std::string long_password(72, 'x');
    auto stored = hash_password("BLF-CRYPT", long_password, {.blf_cost = 4});
    ASSERT_TRUE(stored);
    EXPECT_EQ(verify_password(*stored, long_password + "tail"), verify_status::match);
}

TEST(password_scheme, locked_crypt_accounts_never_match) {
    EXPECT_EQ(verify_password("{CRYPT}!", ""), verify_status::mismatch);
    EXPECT_EQ(verify_password("{CRYPT}*", "*"), verify_status::mismatch);
    EXPECT_EQ(verify_password("{CRYPT}!$6$abc$def", "x"), verify_status::mismatch);
}

struct malformed_case {
    const char* stored;
    verify_status want;
};

// clang-format off
const malformed_case malformed[] = {
    {"", verify_status::error},
    {"secret", verify_status::error},                      // no scheme
    {"{PLAIN", verify_status::error},                      // no closing brace
    {"{}secret", verify_status::error},                    // empty scheme
    {"{MD5}abc", verify_status::error},                    // unknown scheme
    {"{SHA512-CRYPT}", verify_status::error},
    {"{SHA512-CRYPT}$5$abc$def", verify_status::error},    // wrong crypt prefix
    {"{SHA512-CRYPT}$6$", verify_status::mismatch},        // no hash part: crypt gives another string
    {"{SHA512-CRYPT}$6$salt$short", verify_status::mismatch},
    {"{BLF-CRYPT}$2y$99$abcdefghijklmnopqrstuu", verify_status::error},
    {"{BLF-CRYPT}$2x$05$3ZJBUjhiE9v4JteEqnPmZOySPiEfT4SoSSXiKdyCZoh7GpvR4RVvG", verify_status::error},
    {"{YESCRYPT}$y$", verify_status::error},
    {"{CRYPT}$9$unknown", verify_status::error},
    {"{CRYPT}$", verify_status::error},
    {"{ARGON2I}", verify_status::error},
    {"{ARGON2I}$argon2id$v=19$m=65536,t=3,p=1$yeyxX+5faBTWAiQZLkkg9g$504PyenNzgcXdWBRJ2tFlzj1HFEPjdH/CKG1wRdF5s8", verify_status::error},
    {"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$", verify_status::error},
    {"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$yeyxX+5faBTWAiQZLkkg9g$", verify_status::error},
    {"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$!!!$504PyenNzgcXdWBRJ2tFlzj1HFEPjdH/CKG1wRdF5s8", verify_status::error},
    {"{ARGON2ID}$argon2id$v=19$m=99999999,t=3,p=1$yeyxX+5faBTWAiQZLkkg9g$504PyenNzgcXdWBRJ2tFlzj1HFEPjdH/CKG1wRdF5s8", verify_status::error},
    {"{ARGON2ID}$argon2id$v=19$m=65536,t=100000,p=1$yeyxX+5faBTWAiQZLkkg9g$504PyenNzgcXdWBRJ2tFlzj1HFEPjdH/CKG1wRdF5s8", verify_status::error},
    {"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1,x=2$yeyxX+5faBTWAiQZLkkg9g$504PyenNzgcXdWBRJ2tFlzj1HFEPjdH/CKG1wRdF5s8", verify_status::error},
    {"{ARGON2ID}$argon2id$v=19$m=,t=3,p=1$yeyxX+5faBTWAiQZLkkg9g$504PyenNzgcXdWBRJ2tFlzj1HFEPjdH/CKG1wRdF5s8", verify_status::error},
    {"{SSHA256}", verify_status::error},
    {"{SSHA256}YvT67pVYvHYjcLgQXGmR", verify_status::error},    // shorter than a digest
    {"{SSHA256}not base64!", verify_status::error},
    {"{SSHA512}YvT67pVYvHYjcLgQXGmR+x/8uJtROIyxbEGLtZw6J7vHhtNd", verify_status::error},
    {"{SHA256}ZyYKJ2jhK99stPfIQUYPEF/WDO3Of99RMIQlgU09Pk0=AAAA", verify_status::error},
    {"{SHA512}ZyYKJ2jhK99stPfIQUYPEF/WDO3Of99RMIQlgU09Pk0=", verify_status::error},
    {"{SHA256}zz260a2768e12bdf6cb4f7c841460f105fd60cedce7fdf51308425814d3d3e4d", verify_status::error},
};
// clang-format on

class malformed_hash_test : public testing::TestWithParam<malformed_case> {};

TEST_P(malformed_hash_test, is_error_or_mismatch_never_match) {
    EXPECT_EQ(verify_password(GetParam().stored, password), GetParam().want) << GetParam().stored;
    EXPECT_NE(verify_password(GetParam().stored, ""), verify_status::match) << GetParam().stored;
}

INSTANTIATE_TEST_SUITE_P(cases, malformed_hash_test, testing::ValuesIn(malformed));

TEST(password_scheme, every_truncation_of_a_stored_hash_is_safe) {
    // No prefix of a valid string crashes or matches (ASan runs this too).
    for (const auto& c : foreign_hashes) {
        std::string_view stored = c.stored;
        // Costly ones, where most prefixes still run the whole hash.
        if (stored.starts_with("{ARGON2") || stored.find("$y$") != std::string_view::npos ||
            stored.find("rounds=") != std::string_view::npos ||
            stored.find("$2y$08$") != std::string_view::npos) {
            continue;
        }
        // "{PLAIN}" + a prefix of the password is a valid PLAIN entry.
        if (stored.starts_with("{PLAIN}") || stored.starts_with("{CLEARTEXT}")) continue;
        // Most prefixes of a crypt string still run the whole hash: sample them.
        std::size_t step = stored.find('$') != std::string_view::npos ? 5 : 1;
        for (std::size_t n = 0; n + 1 < stored.size(); n += step) {
            auto prefix = stored.substr(0, n);
            // Base64 padding is optional.
            if (stored.substr(n).find_first_not_of('=') == std::string_view::npos) continue;
            EXPECT_NE(verify_password(prefix, password), verify_status::match) << prefix;
        }
    }
}

TEST(password_scheme, split_scheme) {
    auto parts = split_scheme("{SHA512-CRYPT}$6$x");
    ASSERT_TRUE(parts);
    EXPECT_EQ(parts->scheme, "SHA512-CRYPT");
    EXPECT_EQ(parts->data, "$6$x");
    parts = split_scheme("{}");
    ASSERT_TRUE(parts);
    EXPECT_EQ(parts->scheme, "");
    EXPECT_FALSE(split_scheme("PLAIN}x"));
    EXPECT_FALSE(split_scheme("{PLAIN"));
}

// Cheap costs so the round trips stay fast.
constexpr hash_options cheap{.sha_crypt_rounds = 1000,
                             .blf_cost = 4,
                             .yescrypt_cost = 1,
                             .argon2_t = 1,
                             .argon2_m_kib = 8192,
                             .argon2_p = 1};

class round_trip_test : public testing::TestWithParam<std::string_view> {};

TEST_P(round_trip_test, hash_then_verify) {
    auto scheme = GetParam();
    auto stored = hash_password(scheme, password, cheap);
    ASSERT_TRUE(stored) << scheme;
    auto parts = split_scheme(*stored);
    ASSERT_TRUE(parts);
    EXPECT_EQ(parts->scheme, scheme);
    EXPECT_EQ(verify_password(*stored, password), verify_status::match) << *stored;
    EXPECT_EQ(verify_password(*stored, wrong), verify_status::mismatch) << *stored;
    EXPECT_EQ(verify_password(*stored, ""), verify_status::mismatch) << *stored;

    // A fresh salt each time, for every salted scheme.
    auto again = hash_password(scheme, password, cheap);
    ASSERT_TRUE(again);
    bool unsalted = scheme == "PLAIN" || scheme == "CLEARTEXT" || scheme == "CLEAR" ||
                    scheme == "SHA256" || scheme == "SHA512";
    EXPECT_EQ(*again == *stored, unsalted) << *stored;
}

INSTANTIATE_TEST_SUITE_P(all, round_trip_test, testing::ValuesIn(known_schemes()),
                         [](const auto& info) {
                             std::string name(info.param);
                             for (auto& ch : name) {
                                 if (ch == '-') ch = '_';
                             }
                             return name;
                         });

TEST(password_scheme, hash_formats) {
    auto check_prefix = [](std::string_view scheme, std::string_view prefix) {
        auto stored = hash_password(scheme, "pw", cheap);
        ASSERT_TRUE(stored) << scheme;
        EXPECT_TRUE(stored->starts_with(prefix)) << *stored;
    };
    check_prefix("SHA512-CRYPT", "{SHA512-CRYPT}$6$rounds=1000$");
    check_prefix("SHA256-CRYPT", "{SHA256-CRYPT}$5$rounds=1000$");
    check_prefix("BLF-CRYPT", "{BLF-CRYPT}$2y$04$");
    check_prefix("YESCRYPT", "{YESCRYPT}$y$");
    check_prefix("ARGON2I", "{ARGON2I}$argon2i$v=19$m=8192,t=1,p=1$");
    check_prefix("ARGON2ID", "{ARGON2ID}$argon2id$v=19$m=8192,t=1,p=1$");
    check_prefix("sha512-crypt", "{SHA512-CRYPT}$6$");
    check_prefix("cleartext", "{CLEARTEXT}pw");
}

TEST(password_scheme, hash_refuses_what_it_cannot_do) {
    EXPECT_FALSE(hash_password("MD5", "pw"));
    EXPECT_FALSE(hash_password("", "pw"));
    EXPECT_FALSE(hash_password("SHA512-CRYPT", std::string("a\0b", 3), cheap));
    EXPECT_FALSE(hash_password("SHA512-CRYPT", std::string(600, 'x'), cheap));
    // The Argon2 schemes take any bytes.
    auto stored = hash_password("ARGON2ID", std::string("a\0b", 3), cheap);
    ASSERT_TRUE(stored);
    EXPECT_EQ(verify_password(*stored, std::string("a\0b", 3)), verify_status::match);
    EXPECT_EQ(verify_password(*stored, "a"), verify_status::mismatch);
}

}  // namespace
}  // namespace submitd::auth
