// LOGIN (draft-murchison-sasl-login): scripted exchanges with and without an
// initial response, tables of user names and passwords, and the order rules.
// Every refusal is checked for leaking the password.
#include "sasl/mech_login.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>

namespace submitd::sasl {
namespace {

using namespace std::literals;

const std::string password = "hunter2-Secret";

bool is_printable_ascii(std::string_view s) {
    for (const char c : s) {
        if (c < 0x20 || c > 0x7e) return false;
    }
    return true;
}

void expect_challenge(const step_result& r, std::string_view prompt) {
    EXPECT_EQ(r.status, step_status::challenge) << "reason=" << r.reason;
    EXPECT_EQ(r.challenge, prompt);
}

void expect_bad_syntax(const step_result& r, std::string_view reason) {
    EXPECT_EQ(r.status, step_status::bad_syntax);
    EXPECT_EQ(r.reason, reason);
    EXPECT_TRUE(is_printable_ascii(r.reason)) << "reason=" << r.reason;
    EXPECT_EQ(r.reason.find("hunter2"), std::string::npos) << "reason=" << r.reason;
    EXPECT_EQ(r.reason.find("Secret"), std::string::npos) << "reason=" << r.reason;
}

TEST(login_mechanism, name_is_upper_case) {
    EXPECT_EQ(login_mechanism().name(), "LOGIN");
}

TEST(login_mechanism, asks_for_user_name_then_password) {
    login_mechanism mech;
    expect_challenge(mech.start(std::nullopt), "Username:");
    expect_challenge(mech.step("user@example.org"), "Password:");
    ASSERT_EQ(mech.step(password).status, step_status::done);
    const credentials creds = mech.take_credentials();
    EXPECT_EQ(creds.authzid, "");
    EXPECT_EQ(creds.authcid, "user@example.org");
    EXPECT_EQ(creds.password.view(), password);
}

TEST(login_mechanism, initial_response_is_the_user_name) {
    login_mechanism mech;
    expect_challenge(mech.start("user"sv), "Password:");
    ASSERT_EQ(mech.step(password).status, step_status::done);
    const credentials creds = mech.take_credentials();
    EXPECT_EQ(creds.authzid, "");
    EXPECT_EQ(creds.authcid, "user");
    EXPECT_EQ(creds.password.view(), password);
}

TEST(login_mechanism, empty_initial_response_is_bad_syntax) {
    // "AUTH LOGIN =": an empty user name.
    login_mechanism mech;
    expect_bad_syntax(mech.start(""sv), "empty user name");
    expect_bad_syntax(mech.step(password), "unexpected LOGIN response");
}

struct username_case {
    const char* name;
    std::string username;
    std::optional<std::string> want_reason;  ///< nullopt: accepted
};

TEST(login_mechanism, user_names) {
    const username_case cases[] = {
        {"plain", "user", std::nullopt},
        {"address", "user@example.org", std::nullopt},
        {"utf8", "j\xc3\xb6rg", std::nullopt},
        {"space", "first last", std::nullopt},
        {"at limit", std::string(max_identity_length, 'u'), std::nullopt},
        {"over limit", std::string(max_identity_length + 1, 'u'), "user name too long"},
        {"very long", std::string(100000, 'u'), "user name too long"},
        {"empty", "", "empty user name"},
        {"CR", "us\rer", "user name contains a control character"},
        {"LF", "user\n", "user name contains a control character"},
        {"CRLF command", "user\r\nQUIT", "user name contains a control character"},
        {"NUL", "us\0er"s, "user name contains a control character"},
        {"leading NUL", "\0user"s, "user name contains a control character"},
        {"TAB", "user\t", "user name contains a control character"},
        {"0x01", "\x01", "user name contains a control character"},
        {"DEL", "user\x7f", "user name contains a control character"},
        {"C1", "user\xc2\x9b", "user name contains a control character"},
        {"Latin-1", "j\xf6rg", "user name is not valid UTF-8"},
        {"overlong", "\xc0\xaf", "user name is not valid UTF-8"},
        {"surrogate", "\xed\xbf\xbf", "user name is not valid UTF-8"},
        {"truncated", "user\xe2\x82", "user name is not valid UTF-8"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        for (const bool initial : {false, true}) {
            SCOPED_TRACE(initial ? "initial response" : "after challenge");
            login_mechanism mech;
            step_result r;
            if (initial) {
                r = mech.start(std::string_view(c.username));
            } else {
                expect_challenge(mech.start(std::nullopt), "Username:");
                r = mech.step(c.username);
            }
            if (!c.want_reason) {
                expect_challenge(r, "Password:");
                ASSERT_EQ(mech.step(password).status, step_status::done);
                EXPECT_EQ(mech.take_credentials().authcid, c.username);
                continue;
            }
            expect_bad_syntax(r, *c.want_reason);
            // The exchange is over: the password is refused, not accepted.
            expect_bad_syntax(mech.step(password), "unexpected LOGIN response");
        }
    }
}

struct password_case {
    const char* name;
    std::string password;
    std::optional<std::string> want_reason;  ///< nullopt: done
};

TEST(login_mechanism, passwords) {
    const password_case cases[] = {
        {"plain", password, std::nullopt},
        {"one byte", "x", std::nullopt},
        {"binary", "\x01\x02\x7f\x80\xff\r\n \t\xc3("s, std::nullopt},
        {"at limit", std::string(max_password_length, 'p'), std::nullopt},
        {"over limit", std::string(max_password_length + 1, 'p'), "password too long"},
        {"very long", std::string(100000, 'p'), "password too long"},
        {"empty", "", "empty password"},
        {"NUL inside", "hunter2\0-Secret"s, "password contains NUL"},
        {"trailing NUL", password + '\0', "password contains NUL"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        login_mechanism mech;
        expect_challenge(mech.start("user"sv), "Password:");
        const step_result r = mech.step(c.password);
        if (!c.want_reason) {
            ASSERT_EQ(r.status, step_status::done) << "reason=" << r.reason;
            EXPECT_EQ(mech.take_credentials().password.view(), c.password);
            continue;
        }
        expect_bad_syntax(r, *c.want_reason);
    }
}

TEST(login_mechanism, step_after_done_is_bad_syntax) {
    login_mechanism mech;
    expect_challenge(mech.start("user"sv), "Password:");
    ASSERT_EQ(mech.step(password).status, step_status::done);
    expect_bad_syntax(mech.step(password), "unexpected LOGIN response");
    expect_bad_syntax(mech.step(""), "unexpected LOGIN response");
}

TEST(login_mechanism, step_after_take_credentials_is_bad_syntax) {
    login_mechanism mech;
    expect_challenge(mech.start("user"sv), "Password:");
    ASSERT_EQ(mech.step(password).status, step_status::done);
    EXPECT_EQ(mech.take_credentials().authcid, "user");
    expect_bad_syntax(mech.step("user"), "unexpected LOGIN response");
}

TEST(login_mechanism, step_after_bad_password_is_bad_syntax) {
    login_mechanism mech;
    expect_challenge(mech.start("user"sv), "Password:");
    expect_bad_syntax(mech.step(""), "empty password");
    expect_bad_syntax(mech.step(password), "unexpected LOGIN response");
}

TEST(login_mechanism, step_before_start_is_bad_syntax) {
    login_mechanism mech;
    expect_bad_syntax(mech.step("user"), "unexpected LOGIN response");
}

TEST(login_mechanism, second_start_is_bad_syntax) {
    login_mechanism mech;
    expect_challenge(mech.start(std::nullopt), "Username:");
    expect_bad_syntax(mech.start("user"sv), "LOGIN started twice");
    expect_bad_syntax(mech.step("user"), "unexpected LOGIN response");
}

TEST(login_mechanism, credentials_do_not_alias_the_input) {
    std::string username = "user";
    std::string secret = password;
    login_mechanism mech;
    expect_challenge(mech.start(std::string_view(username)), "Password:");
    ASSERT_EQ(mech.step(secret).status, step_status::done);
    username.assign(username.size(), 'X');
    secret.assign(secret.size(), 'X');
    const credentials creds = mech.take_credentials();
    EXPECT_EQ(creds.authcid, "user");
    EXPECT_EQ(creds.password.view(), password);
}

}  // namespace
}  // namespace submitd::sasl
