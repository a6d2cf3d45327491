// passwd-file parsing: table-driven valid and invalid inputs, each invalid one
// with its expected line and message.
#include "auth/passwd_file.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace submitd::auth {
namespace {

const passwd_db& expect_ok(const passwd_parse_result& result) {
    if (const auto* error = std::get_if<passwd_error>(&result)) {
        ADD_FAILURE() << "line " << error->line << ": " << error->message;
        static const passwd_db empty;
        return empty;
    }
    return std::get<passwd_db>(result);
}

TEST(passwd_file, full_line) {
    auto result = parse_passwd(
        "alice:{PLAIN}pw:1000:100:Alice Liddell:/home/alice:/bin/sh:"
        "userdb_quota_rule=*:storage=1G nopassword  allow_nets=10.0.0.0/8\n");
    const auto& db = expect_ok(result);
    ASSERT_EQ(db.size(), 1U);
    const auto* e = db.find("alice");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->user, "alice");
    EXPECT_EQ(e->password, "{PLAIN}pw");
    EXPECT_EQ(e->uid, "1000");
    EXPECT_EQ(e->gid, "100");
    EXPECT_EQ(e->gecos, "Alice Liddell");
    EXPECT_EQ(e->home, "/home/alice");
    EXPECT_EQ(e->shell, "/bin/sh");
    // Everything after the seventh ':' is one field, split at spaces.
    EXPECT_EQ(e->extra_fields, (std::vector<std::string>{"userdb_quota_rule=*:storage=1G",
                                                         "nopassword", "allow_nets=10.0.0.0/8"}));
}

struct valid_case {
    const char* name;
    const char* text;
    std::size_t users;
    const char* user;      // looked up after parsing
    const char* password;  // its expected password field
};

// clang-format off
const valid_case valid[] = {
    {"empty", "", 0, nullptr, nullptr},
    {"only_comments_and_blanks", "# users\n\n   \n\t\n#bob:{PLAIN}x\n", 0, nullptr, nullptr},
    {"user_and_password_only", "bob:{PLAIN}x", 1, "bob", "{PLAIN}x"},
    {"trailing_colons", "bob:{PLAIN}x:::::::\n", 1, "bob", "{PLAIN}x"},
    {"some_fields", "bob:{PLAIN}x:1000\n", 1, "bob", "{PLAIN}x"},
    {"crlf", "# c\r\nbob:{PLAIN}x\r\n\r\ncarol:{SHA256-CRYPT}$5$a$b\r\n", 2, "carol", "{SHA256-CRYPT}$5$a$b"},
    {"no_final_newline", "bob:{PLAIN}x\ncarol:{PLAIN}y", 2, "carol", "{PLAIN}y"},
    {"scheme_case_insensitive", "bob:{sha512-crypt}$6$a$b\n", 1, "bob", "{sha512-crypt}$6$a$b"},
    {"user_with_domain", "bob@example.org:{PLAIN}x\n", 1, "bob@example.org", "{PLAIN}x"},
    {"names_are_case_sensitive", "bob:{PLAIN}x\nBob:{PLAIN}y\n", 2, "Bob", "{PLAIN}y"},
    {"comment_after_users", "bob:{PLAIN}x\n# end\n", 1, "bob", "{PLAIN}x"},
    {"argon2", "a:{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$yeyx$504P\n", 1, "a", "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$yeyx$504P"},
};
// clang-format on

class valid_passwd_test : public testing::TestWithParam<valid_case> {};

TEST_P(valid_passwd_test, parses) {
    const auto& c = GetParam();
    auto result = parse_passwd(c.text);
    const auto& db = expect_ok(result);
    EXPECT_EQ(db.size(), c.users);
    if (c.user != nullptr) {
        const auto* e = db.find(c.user);
        ASSERT_NE(e, nullptr) << c.user;
        EXPECT_EQ(e->password, c.password);
    }
    EXPECT_EQ(db.find("nobody"), nullptr);
}

INSTANTIATE_TEST_SUITE_P(cases, valid_passwd_test, testing::ValuesIn(valid),
                         [](const auto& info) { return std::string(info.param.name); });

struct invalid_case {
    const char* name;
    std::string text;
    std::size_t line;
    const char* message;
};

// clang-format off
const invalid_case invalid[] = {
    {"no_scheme", "bob:$6$abc$def\n", 1, "password has no {SCHEME} prefix"},
    {"plain_text_password", "# c\n\nbob:secret\n", 3, "password has no {SCHEME} prefix"},
    {"unclosed_scheme", "bob:{PLAINsecret\n", 1, "password has no {SCHEME} prefix"},
    {"unknown_scheme", "bob:{PLAIN}x\ncarol:{XYZ}abc\n", 2, "unknown password scheme \"XYZ\""},
    {"empty_scheme", "bob:{}abc\n", 1, "unknown password scheme \"\""},
    {"odd_scheme", "bob:{A B}abc\n", 1, "malformed password scheme"},
    {"empty_password", "bob::1000\n", 1, "empty password field (expected {SCHEME}data)"},
    {"missing_password", "bob:{PLAIN}x\ncarol\n", 2, "missing password field"},
    {"empty_user", "\n:{PLAIN}x\n", 2, "empty user name"},
    {"duplicate", "bob:{PLAIN}x\n#\ncarol:{PLAIN}y\nbob:{PLAIN}z\n", 4, "duplicate user bob (first on line 1)"},
    {"duplicate_crlf", "bob:{PLAIN}x\r\nbob:{PLAIN}z\r\n", 2, "duplicate user bob (first on line 1)"},
    {"duplicate_odd_name", "a b:{PLAIN}x\na b:{PLAIN}y\n", 2, "duplicate user \"a b\" (first on line 1)"},
    {"nul_byte", std::string("bob:{PLAIN}x\ncarol:{PLAIN}\0y\n", 28), 2, "NUL byte"},
    {"first_error_wins", "bob:x\ncarol:{XYZ}y\n", 1, "password has no {SCHEME} prefix"},
};
// clang-format on

class invalid_passwd_test : public testing::TestWithParam<invalid_case> {};

TEST_P(invalid_passwd_test, reports_line_and_problem) {
    const auto& c = GetParam();
    auto result = parse_passwd(c.text);
    const auto* error = std::get_if<passwd_error>(&result);
    ASSERT_NE(error, nullptr) << "parsed, want error";
    EXPECT_EQ(error->line, c.line) << "got=" << error->line << " want=" << c.line;
    EXPECT_EQ(error->message, c.message);
}

INSTANTIATE_TEST_SUITE_P(cases, invalid_passwd_test, testing::ValuesIn(invalid),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(passwd_file, error_never_contains_the_password) {
    for (const char* text : {"bob:{XYZ}hunter2\n", "bob:hunter2\n",
                             "bob:{PLAIN}hunter2\n"
                             "bob:{PLAIN}hunter2\n"}) {
        auto result = parse_passwd(text);
        const auto* error = std::get_if<passwd_error>(&result);
        ASSERT_NE(error, nullptr);
        EXPECT_EQ(error->message.find("hunter2"), std::string::npos) << error->message;
    }
}

TEST(passwd_file, sample_file) {
    std::ifstream in(SUBMITD_TEST_DATA "/auth/users.passwd", std::ios::binary);
    ASSERT_TRUE(in);
    std::stringstream text;
    text << in.rdbuf();
    auto result = parse_passwd(text.str());
    const auto& db = expect_ok(result);
    EXPECT_EQ(db.size(), 4U);
    for (const char* user : {"alice@example.org", "bob@example.org", "carol", "dave"}) {
        EXPECT_NE(db.find(user), nullptr) << user;
    }
}

}  // namespace
}  // namespace submitd::auth
