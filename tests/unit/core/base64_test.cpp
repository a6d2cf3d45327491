// base64_encode/base64_decode: RFC 4648 section 10 vectors, every byte value,
// and the strict decoder's refusals (alphabet, padding, pad bits, whitespace).
#include "core/base64.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace submitd::core {
namespace {

using namespace std::literals;

std::string hex(std::string_view s) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (const char c : s) {
        out += digits[static_cast<unsigned char>(c) >> 4];
        out += digits[static_cast<unsigned char>(c) & 0x0f];
    }
    return out;
}

struct valid_case {
    std::string decoded;
    std::string encoded;
};

const valid_case valid_cases[] = {
    // RFC 4648 section 10.
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
    // SASL PLAIN messages and binary bytes.
    {"\0user\0pass"s, "AHVzZXIAcGFzcw=="},
    {"\0"s, "AA=="},
    {"\0\0"s, "AAA="},
    {"\0\0\0"s, "AAAA"},
    {"\xff", "/w=="},
    {"\xff\xff", "//8="},
    {"\xff\xff\xff", "////"},
    {"\xfb\xef\xbe", "++++"},
    {"Username:", "VXNlcm5hbWU6"},
    {"Password:", "UGFzc3dvcmQ6"},
};

TEST(base64, encodes_and_decodes_known_vectors) {
    for (const auto& c : valid_cases) {
        EXPECT_EQ(base64_encode(c.decoded), c.encoded) << "input=" << hex(c.decoded);
        const auto decoded = base64_decode(c.encoded);
        ASSERT_TRUE(decoded.has_value()) << "input=" << c.encoded;
        EXPECT_EQ(hex(*decoded), hex(c.decoded)) << "input=" << c.encoded;
    }
}

TEST(base64, round_trips_every_byte_at_every_alignment) {
    std::string all;
    for (int b = 0; b < 256; ++b)
        all += static_cast<char>(b);
    for (std::size_t start = 0; start < 3; ++start) {
        for (std::size_t length = 0; length + start <= all.size(); length += 37) {
            const std::string data = all.substr(start, length);
            const auto decoded = base64_decode(base64_encode(data));
            ASSERT_TRUE(decoded.has_value()) << "data=" << hex(data);
            EXPECT_EQ(*decoded, data);
        }
    }
}

struct invalid_case {
    std::string encoded;
    const char* why;
};

const invalid_case invalid_cases[] = {
    {"Z", "one character"},
    {"Zg", "missing padding"},
    {"Zg=", "missing one pad"},
    {"Zm9vY", "length not a multiple of 4"},
    {"Zm9vYg", "missing padding after a full quantum"},
    {"=", "the SASL empty response is the session's, not base64"},
    {"*", "the SASL abort is the session's, not base64"},
    {"====", "padding only"},
    {"Z===", "three pads"},
    {"Zg==Zg==", "padding in the middle"},
    {"Zm8=Zm9v", "padding in the middle"},
    {"Zm=v", "pad before a data character"},
    {"Zg=A", "pad before a data character"},
    {"Zm9v=", "pad after a full quantum"},
    {"Zm9v====", "a quantum of pads"},
    {"Zh==", "non-zero pad bits in xx=="},
    {"Zm9=", "non-zero pad bits in xxx="},
    {"//==", "non-zero pad bits in xx=="},
    // Whitespace, with lengths that are and are not a multiple of 4.
    {"Zm9v\r\n", "trailing CRLF"},
    {"Zm9vYg\r\n", "trailing CRLF"},
    {"Zm9v Zm9v", "space inside"},
    {"Zm 9", "space inside"},
    {" Zm9v", "leading space"},
    {" Zm9vYg=", "leading space"},
    {"Zm9v\n", "trailing LF"},
    {"Zm9vYm=\n", "LF instead of a pad"},
    {"Zm\t9", "tab inside"},
    {"Zm\r\nZm9v", "line break inside"},
    {"Zm-v", "URL-safe alphabet"},
    {"Zm_v", "URL-safe alphabet"},
    {"Zm9.", "not in the alphabet"},
    {"Zm9\x80", "non-ASCII byte"},
    {"Zm9\xff", "non-ASCII byte"},
    {"\0\0\0\0"s, "NUL bytes"},
    {"Zg\0="s, "NUL instead of a pad"},
};

TEST(base64, refuses_non_strict_input) {
    for (const auto& c : invalid_cases) {
        const auto decoded = base64_decode(c.encoded);
        EXPECT_FALSE(decoded.has_value())
            << "input=" << hex(c.encoded) << " (" << c.why << ") got=" << hex(decoded.value_or(""));
    }
}

TEST(base64, empty_input_is_empty_output) {
    const auto decoded = base64_decode("");
    ASSERT_TRUE(decoded.has_value());
    EXPECT_TRUE(decoded->empty());
    EXPECT_EQ(base64_encode(""), "");
}

}  // namespace
}  // namespace submitd::core
