// make_mechanism and is_plaintext_mechanism: names match in any ASCII case,
// nothing else matches.
#include "sasl/mechanism.hpp"

#include <gtest/gtest.h>

#include <string>

namespace submitd::sasl {
namespace {

using namespace std::literals;

struct name_case {
    std::string name;
    const char* want;  ///< the mechanism's name(), or nullptr for none
};

const name_case name_cases[] = {
    {"PLAIN", "PLAIN"},        {"plain", "PLAIN"},
    {"Plain", "PLAIN"},        {"pLaIn", "PLAIN"},
    {"LOGIN", "LOGIN"},        {"login", "LOGIN"},
    {"Login", "LOGIN"},        {"", nullptr},
    {"PLAI", nullptr},         {"PLAINX", nullptr},
    {"PLAIN ", nullptr},       {" PLAIN", nullptr},
    {"PLAIN\r\n", nullptr},    {"PLAIN\0"s, nullptr},
    {"LOG IN", nullptr},       {"CRAM-MD5", nullptr},
    {"DIGEST-MD5", nullptr},   {"SCRAM-SHA-256", nullptr},
    {"XOAUTH2", nullptr},      {"ANONYMOUS", nullptr},
    {"EXTERNAL", nullptr},     {"PL\xc3\x80IN", nullptr},
    {"LOG\xc4\xb0N", nullptr},  // U+0130, which some case folds map to "I"
};

TEST(make_mechanism, matches_names_in_any_case) {
    for (const auto& c : name_cases) {
        const mechanism_ptr mech = make_mechanism(c.name);
        if (c.want == nullptr) {
            EXPECT_EQ(mech, nullptr) << "name=" << c.name;
            EXPECT_FALSE(is_plaintext_mechanism(c.name)) << "name=" << c.name;
            continue;
        }
        ASSERT_NE(mech, nullptr) << "name=" << c.name;
        EXPECT_EQ(mech->name(), c.want);
        EXPECT_TRUE(is_plaintext_mechanism(c.name)) << "name=" << c.name;
    }
}

TEST(make_mechanism, returns_fresh_instances) {
    const mechanism_ptr a = make_mechanism("PLAIN");
    const mechanism_ptr b = make_mechanism("PLAIN");
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_NE(a.get(), b.get());
    ASSERT_EQ(a->start("\0user\0pass"sv).status, step_status::done);
    EXPECT_EQ(b->start(std::nullopt).status, step_status::challenge);
}

}  // namespace
}  // namespace submitd::sasl
