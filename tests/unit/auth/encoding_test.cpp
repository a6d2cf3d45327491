// Base64 and hex for password hashes (RFC 4648 section 10 test vectors).
#include "auth/encoding.hpp"

#include <gtest/gtest.h>

#include "core/base64.hpp"

namespace submitd::auth {
namespace {

TEST(encoding, base64_rfc4648_vectors) {
    const std::pair<const char*, const char*> vectors[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (auto [plain, encoded] : vectors) {
        EXPECT_EQ(core::base64_encode(plain), encoded);
        EXPECT_EQ(base64_decode(encoded), plain) << encoded;
    }
}

TEST(encoding, base64_padding_optional) {
    EXPECT_EQ(base64_decode("Zg"), "f");
    EXPECT_EQ(base64_decode("Zm8"), "fo");
}

TEST(encoding, base64_rejects) {
    for (const char* bad : {"Z", "Zg=", "Zg===", "Z===", "Zh==", "Zm9=", "Zm 9v", "Zm9v\n",
                            "Zg==Zg==", "=", "Zm-v", "Zm_v"}) {
        EXPECT_FALSE(base64_decode(bad)) << bad;
    }
}

TEST(encoding, base64_all_bytes) {
    std::string all;
    for (int i = 0; i < 256; ++i)
        all.push_back(static_cast<char>(i));
    EXPECT_EQ(base64_decode(core::base64_encode(all)), all);
}

TEST(encoding, hex) {
    EXPECT_EQ(hex_decode(""), "");
    EXPECT_EQ(hex_decode("00ff7Fa0"), std::string("\x00\xff\x7f\xa0", 4));
    EXPECT_FALSE(hex_decode("0"));
    EXPECT_FALSE(hex_decode("0g"));
    EXPECT_FALSE(hex_decode(" 00"));
}

}  // namespace
}  // namespace submitd::auth
