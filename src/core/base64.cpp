// Base64 (RFC 4648 section 4, the standard alphabet) for SASL exchanges.
// Decoding is strict, as RFC 4954 section 4 expects of the AUTH exchange: the
// length must be a multiple of 4, only the last quantum may carry "=" padding
// ("xx==" or "xxx="), the pad bits must be zero (RFC 4648 section 3.5) and no
// whitespace or line breaks are skipped. Strictness means one encoded value has
// one spelling, so nothing can be smuggled in the slack of the encoding.
// It does no I/O and does not handle SASL's "*" and "=" responses (the session does).
#include "core/base64.hpp"

#include <array>
#include <cstdint>

namespace submitd::core {
namespace {

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Sextet value of each byte, or invalid_sextet for bytes outside the alphabet
// (including '=', which the decoder handles by position).
constexpr std::uint8_t invalid_sextet = 0xff;

constexpr std::array<std::uint8_t, 256> make_decode_table() {
    std::array<std::uint8_t, 256> table{};
    table.fill(invalid_sextet);
    for (std::size_t i = 0; i < alphabet.size(); ++i)
        table[static_cast<unsigned char>(alphabet[i])] = static_cast<std::uint8_t>(i);
    return table;
}

constexpr std::array<std::uint8_t, 256> decode_table = make_decode_table();

std::uint8_t sextet(char c) {
    return decode_table[static_cast<unsigned char>(c)];
}

// The octet at `i`, or zero past the end (the encoder's partial last group).
std::uint32_t octet(std::string_view data, std::size_t i) {
    return i < data.size() ? static_cast<unsigned char>(data[i]) : 0U;
}

}  // namespace

std::string base64_encode(std::string_view data) {
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    for (std::size_t i = 0; i < data.size(); i += 3) {
        const std::uint32_t n = octet(data, i) << 16 | octet(data, i + 1) << 8 | octet(data, i + 2);
        out += alphabet[(n >> 18) & 0x3f];
        out += alphabet[(n >> 12) & 0x3f];
        out += i + 1 < data.size() ? alphabet[(n >> 6) & 0x3f] : '=';
        out += i + 2 < data.size() ? alphabet[n & 0x3f] : '=';
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    // RFC 4648 section 3.2: padding is required, so every quantum is 4 characters.
    if (text.size() % 4 != 0) return std::nullopt;
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        const bool last = i + 4 == text.size();
        const char c2 = text[i + 2];
        const char c3 = text[i + 3];
        // "=" may appear only in the last quantum, as "xx==" or "xxx=".
        const std::size_t pad = !last ? 0 : c3 != '=' ? 0 : c2 == '=' ? 2 : 1;
        const std::uint8_t s0 = sextet(text[i]);
        const std::uint8_t s1 = sextet(text[i + 1]);
        const std::uint8_t s2 = pad >= 2 ? 0 : sextet(c2);
        const std::uint8_t s3 = pad >= 1 ? 0 : sextet(c3);
        if (s0 == invalid_sextet || s1 == invalid_sextet || s2 == invalid_sextet ||
            s3 == invalid_sextet)
            return std::nullopt;
        const std::uint32_t n = static_cast<std::uint32_t>(s0) << 18 |
                                static_cast<std::uint32_t>(s1) << 12 |
                                static_cast<std::uint32_t>(s2) << 6 | s3;
        // RFC 4648 section 3.5: the pad bits of a partial quantum must be zero.
        if (pad == 2 && (s1 & 0x0f) != 0) return std::nullopt;
        if (pad == 1 && (s2 & 0x03) != 0) return std::nullopt;
        out += static_cast<char>((n >> 16) & 0xff);
        if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
        if (pad < 1) out += static_cast<char>(n & 0xff);
    }
    return out;
}

}  // namespace submitd::core
