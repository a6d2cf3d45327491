// Base64 and hex for password hashes; see encoding.hpp.
#include "auth/encoding.hpp"

#include "core/base64.hpp"

namespace submitd::auth {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::optional<std::string> base64_decode(std::string_view text) {
    // Unpadded input gets its padding back; partial padding stays wrong, and
    // a lone last sextet is no byte.
    if (text.find('=') != std::string_view::npos) return core::base64_decode(text);
    switch (text.size() % 4) {
        case 0:
            return core::base64_decode(text);
        case 2:
            return core::base64_decode(std::string(text) + "==");
        case 3:
            return core::base64_decode(std::string(text) + "=");
        default:
            return std::nullopt;
    }
}

std::optional<std::string> hex_decode(std::string_view text) {
    if (text.size() % 2 != 0) return std::nullopt;
    std::string out;
    out.reserve(text.size() / 2);
    for (std::size_t i = 0; i < text.size(); i += 2) {
        int hi = hex_value(text[i]);
        int lo = hex_value(text[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<char>(hi * 16 + lo));
    }
    return out;
}

}  // namespace submitd::auth
