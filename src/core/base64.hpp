// Base64 (RFC 4648 section 4) for SASL exchanges (RFC 4954 section 4).
// Decoding is strict: no whitespace, no characters outside the alphabet,
// padding required and only at the end, non-zero trailing bits refused.
// It does no I/O and reports errors as an empty optional.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace submitd::core {

std::string base64_encode(std::string_view data);

/// @return the decoded bytes, or nullopt when `text` is not strict base64.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace submitd::core
