// PLAIN (RFC 4616): a table of valid and hostile messages, each run as an
// initial response and as the answer to the empty challenge, plus the state
// machine's order rules. Every refusal is checked for leaking the password.
#include "sasl/mech_plain.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace submitd::sasl {
namespace {

using namespace std::literals;

const std::string nul(1, '\0');
const std::string password = "hunter2-Secret";

std::string plain(std::string_view authzid, std::string_view authcid, std::string_view passwd) {
    return std::string(authzid) + nul + std::string(authcid) + nul + std::string(passwd);
}

// A reason is short printable ASCII: it never carries client bytes.
bool is_printable_ascii(std::string_view s) {
    for (const char c : s) {
        if (c < 0x20 || c > 0x7e) return false;
    }
    return true;
}

struct plain_case {
    const char* name;
    std::string message;
    std::optional<std::string> want_reason;  ///< nullopt: done
    std::string authzid = {};
    std::string authcid = {};
    std::string passwd = {};
};

std::vector<plain_case> plain_cases() {
    const std::string id255(255, 'a');
    const std::string id256(256, 'a');
    const std::string pw1024(1024, 'p');
    const std::string pw1025(1025, 'p');
    const std::string binary = "\x01\x02\x7f\x80\xff\r\n \t\xc3("s;
    return {
        // Valid.
        {"no authzid", plain("", "user", password), {}, "", "user", password},
        {"authzid", plain("admin", "user", password), {}, "admin", "user", password},
        {"same authzid", plain("user", "user", password), {}, "user", "user", password},
        {"address", plain("", "user@example.org", password), {}, "", "user@example.org", password},
        {"utf8 2-byte", plain("", "j\xc3\xb6rg", password), {}, "", "j\xc3\xb6rg", password},
        {"utf8 3-byte",
         plain("\xe2\x82\xac", "\xe6\x97\xa5", password),
         {},
         "\xe2\x82\xac",
         "\xe6\x97\xa5",
         password},
        {"utf8 4-byte",
         plain("", "\xf0\x9f\x98\x80", password),
         {},
         "",
         "\xf0\x9f\x98\x80",
         password},
        {"utf8 U+10FFFF",
         plain("", "\xf4\x8f\xbf\xbf", password),
         {},
         "",
         "\xf4\x8f\xbf\xbf",
         password},
        {"utf8 U+00A0", plain("", "\xc2\xa0", password), {}, "", "\xc2\xa0", password},
        {"space in name", plain("", "first last", password), {}, "", "first last", password},
        {"binary password", plain("", "user", binary), {}, "", "user", binary},
        {"one-byte password", plain("", "user", "x"), {}, "", "user", "x"},
        {"authcid at limit", plain("", id255, password), {}, "", id255, password},
        {"authzid at limit", plain(id255, "user", password), {}, id255, "user", password},
        {"password at limit", plain("", "user", pw1024), {}, "", "user", pw1024},
        {"all at limit", plain(id255, id255, pw1024), {}, id255, id255, pw1024},

        // NULs in odd places.
        {"empty message", "", "PLAIN message needs exactly two NUL separators"},
        {"no NUL", "user" + password, "PLAIN message needs exactly two NUL separators"},
        {"one NUL", "user" + nul + password, "PLAIN message needs exactly two NUL separators"},
        {"leading NUL only", nul + "user" + password,
         "PLAIN message needs exactly two NUL separators"},
        {"trailing NUL only", "user" + password + nul,
         "PLAIN message needs exactly two NUL separators"},
        {"three NULs", nul + "user" + nul + "hunter2" + nul + "-Secret",
         "PLAIN message needs exactly two NUL separators"},
        {"leading extra NUL", nul + nul + "user" + nul + password,
         "PLAIN message needs exactly two NUL separators"},
        {"trailing extra NUL", plain("", "user", password) + nul,
         "PLAIN message needs exactly two NUL separators"},
        {"NUL inside password", plain("", "user", password + nul + password),
         "PLAIN message needs exactly two NUL separators"},
        {"only NULs", nul + nul + nul + nul, "PLAIN message needs exactly two NUL separators"},
        {"two NULs only", nul + nul, "empty authcid"},
        {"empty authcid", plain("admin", "", password), "empty authcid"},
        {"empty authcid and authzid", plain("", "", password), "empty authcid"},
        {"empty password", plain("", "user", ""), "empty password"},
        {"empty password with authzid", plain("admin", "user", ""), "empty password"},

        // Overlong fields.
        {"authcid over limit", plain("", id256, password), "authcid too long"},
        {"authzid over limit", plain(id256, "user", password), "authzid too long"},
        {"password over limit", plain("", "user", pw1025), "password too long"},
        {"huge message", plain(id256, std::string(100000, 'u'), std::string(100000, 'p')),
         "authzid too long"},

        // Control characters in names.
        {"CR in authcid", plain("", "us\rer", password), "authcid contains a control character"},
        {"LF in authcid", plain("", "user\n", password), "authcid contains a control character"},
        {"CRLF in authcid", plain("", "user\r\nRCPT TO:<x>", password),
         "authcid contains a control character"},
        {"TAB in authcid", plain("", "\tuser", password), "authcid contains a control character"},
        {"0x01 in authcid", plain("", "us\x01r", password), "authcid contains a control character"},
        {"0x1f in authcid", plain("", "us\x1fr", password), "authcid contains a control character"},
        {"DEL in authcid", plain("", "user\x7f", password), "authcid contains a control character"},
        {"ESC in authcid", plain("", "\x1b[31muser", password),
         "authcid contains a control character"},
        {"C1 NEL in authcid", plain("", "user\xc2\x85", password),
         "authcid contains a control character"},
        {"C1 U+0080 in authcid", plain("", "\xc2\x80", password),
         "authcid contains a control character"},
        {"C1 U+009F in authcid", plain("", "\xc2\x9f", password),
         "authcid contains a control character"},
        {"CR in authzid", plain("ad\rmin", "user", password),
         "authzid contains a control character"},
        {"LF in authzid", plain("admin\n", "user", password),
         "authzid contains a control character"},

        // Invalid UTF-8 in names.
        {"0xff in authcid", plain("", "user\xff", password), "authcid is not valid UTF-8"},
        {"0xfe in authcid", plain("", "\xfe", password), "authcid is not valid UTF-8"},
        {"lone continuation", plain("", "\x80user", password), "authcid is not valid UTF-8"},
        {"truncated 2-byte", plain("", "user\xc3", password), "authcid is not valid UTF-8"},
        {"truncated 3-byte", plain("", "user\xe2\x82", password), "authcid is not valid UTF-8"},
        {"truncated 4-byte", plain("", "\xf0\x9f\x98", password), "authcid is not valid UTF-8"},
        {"bad continuation", plain("", "\xc3(", password), "authcid is not valid UTF-8"},
        {"overlong slash", plain("", "\xc0\xaf", password), "authcid is not valid UTF-8"},
        {"overlong NUL", plain("", "\xc0\x80", password), "authcid is not valid UTF-8"},
        {"overlong 3-byte", plain("", "\xe0\x80\xaf", password), "authcid is not valid UTF-8"},
        {"overlong 4-byte", plain("", "\xf0\x80\x80\xaf", password), "authcid is not valid UTF-8"},
        {"surrogate", plain("", "\xed\xa0\x80", password), "authcid is not valid UTF-8"},
        {"above U+10FFFF", plain("", "\xf4\x90\x80\x80", password), "authcid is not valid UTF-8"},
        {"5-byte form", plain("", "\xf8\x88\x80\x80\x80", password), "authcid is not valid UTF-8"},
        {"Latin-1 authzid", plain("j\xf6rg", "user", password), "authzid is not valid UTF-8"},
    };
}

void check(const plain_case& c, std::string_view how, const step_result& r, plain_mechanism& mech) {
    SCOPED_TRACE(std::string(c.name) + " (" + std::string(how) + ")");
    if (!c.want_reason) {
        ASSERT_EQ(r.status, step_status::done) << "got reason=" << r.reason;
        const credentials creds = mech.take_credentials();
        EXPECT_EQ(creds.authzid, c.authzid);
        EXPECT_EQ(creds.authcid, c.authcid);
        EXPECT_EQ(creds.password.view(), c.passwd);
        return;
    }
    EXPECT_EQ(r.status, step_status::bad_syntax);
    EXPECT_EQ(r.reason, *c.want_reason);
    EXPECT_TRUE(is_printable_ascii(r.reason)) << "reason=" << r.reason;
    EXPECT_EQ(r.reason.find("hunter2"), std::string::npos) << "reason=" << r.reason;
    EXPECT_EQ(r.reason.find("Secret"), std::string::npos) << "reason=" << r.reason;
}

TEST(plain_mechanism, messages_as_initial_response) {
    for (const auto& c : plain_cases()) {
        plain_mechanism mech;
        check(c, "initial response", mech.start(c.message), mech);
    }
}

TEST(plain_mechanism, messages_after_empty_challenge) {
    for (const auto& c : plain_cases()) {
        plain_mechanism mech;
        const step_result first = mech.start(std::nullopt);
        ASSERT_EQ(first.status, step_status::challenge);
        EXPECT_EQ(first.challenge, "");
        check(c, "after challenge", mech.step(c.message), mech);
    }
}

TEST(plain_mechanism, name_is_upper_case) {
    EXPECT_EQ(plain_mechanism().name(), "PLAIN");
}

TEST(plain_mechanism, empty_initial_response_is_bad_syntax) {
    // The client sent "AUTH PLAIN =": an empty message, not a request for a challenge.
    plain_mechanism mech;
    const step_result r = mech.start(""sv);
    EXPECT_EQ(r.status, step_status::bad_syntax);
    EXPECT_EQ(r.reason, "PLAIN message needs exactly two NUL separators");
}

TEST(plain_mechanism, empty_response_to_challenge_is_bad_syntax) {
    plain_mechanism mech;
    ASSERT_EQ(mech.start(std::nullopt).status, step_status::challenge);
    EXPECT_EQ(mech.step("").status, step_status::bad_syntax);
}

TEST(plain_mechanism, step_after_done_is_bad_syntax) {
    plain_mechanism mech;
    ASSERT_EQ(mech.start(plain("", "user", password)).status, step_status::done);
    const step_result r = mech.step(plain("", "other", password));
    EXPECT_EQ(r.status, step_status::bad_syntax);
    EXPECT_EQ(r.reason, "unexpected PLAIN response");
}

TEST(plain_mechanism, step_after_take_credentials_is_bad_syntax) {
    plain_mechanism mech;
    ASSERT_EQ(mech.start(plain("", "user", password)).status, step_status::done);
    EXPECT_EQ(mech.take_credentials().authcid, "user");
    EXPECT_EQ(mech.step(plain("", "user", password)).status, step_status::bad_syntax);
    EXPECT_EQ(mech.step("").status, step_status::bad_syntax);
}

TEST(plain_mechanism, step_after_bad_syntax_is_bad_syntax) {
    plain_mechanism mech;
    ASSERT_EQ(mech.start(plain("", "", password)).status, step_status::bad_syntax);
    // A valid message after the failure does not revive the exchange.
    EXPECT_EQ(mech.step(plain("", "user", password)).status, step_status::bad_syntax);
    EXPECT_EQ(mech.step(plain("", "user", password)).status, step_status::bad_syntax);
}

TEST(plain_mechanism, step_before_start_is_bad_syntax) {
    plain_mechanism mech;
    EXPECT_EQ(mech.step(plain("", "user", password)).status, step_status::bad_syntax);
}

TEST(plain_mechanism, second_start_is_bad_syntax) {
    plain_mechanism mech;
    ASSERT_EQ(mech.start(std::nullopt).status, step_status::challenge);
    EXPECT_EQ(mech.start(plain("", "user", password)).status, step_status::bad_syntax);
    EXPECT_EQ(mech.step(plain("", "user", password)).status, step_status::bad_syntax);
}

TEST(plain_mechanism, take_credentials_moves_the_password_out) {
    plain_mechanism mech;
    ASSERT_EQ(mech.start(plain("", "user", password)).status, step_status::done);
    credentials creds = mech.take_credentials();
    EXPECT_EQ(creds.password.view(), password);
    const core::secret_string moved = std::move(creds.password);
    EXPECT_TRUE(creds.password.empty());  // NOLINT(bugprone-use-after-move): wiped on move
    EXPECT_EQ(moved.view(), password);
}

TEST(plain_mechanism, credentials_do_not_alias_the_input) {
    std::string message = plain("admin", "user", password);
    plain_mechanism mech;
    ASSERT_EQ(mech.start(message).status, step_status::done);
    message.assign(message.size(), 'X');
    const credentials creds = mech.take_credentials();
    EXPECT_EQ(creds.authzid, "admin");
    EXPECT_EQ(creds.authcid, "user");
    EXPECT_EQ(creds.password.view(), password);
}

struct field_case {
    std::string value;
    std::optional<std::string> want;
};

TEST(check_identity, names_the_field) {
    const field_case cases[] = {
        {"user", std::nullopt},
        {"", "empty login"},
        {std::string(256, 'u'), "login too long"},
        {"a\rb", "login contains a control character"},
        {"\xff", "login is not valid UTF-8"},
    };
    for (const auto& c : cases)
        EXPECT_EQ(check_identity("login", c.value), c.want);
}

TEST(check_password, refuses_empty_long_and_nul_only) {
    const field_case cases[] = {
        {"x", std::nullopt},
        {"\r\n\x01\x7f\x80\xff", std::nullopt},
        {std::string(max_password_length, 'p'), std::nullopt},
        {"", "empty password"},
        {std::string(max_password_length + 1, 'p'), "password too long"},
        {"pass"s + nul + "word", "password contains NUL"},
    };
    for (const auto& c : cases)
        EXPECT_EQ(check_password(c.value), c.want);
}

}  // namespace
}  // namespace submitd::sasl
