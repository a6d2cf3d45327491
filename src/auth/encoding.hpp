// Base64 and hex as they appear in Dovecot password hashes: the data of
// {SSHA256}, {SHA512} and friends is base64 (RFC 4648 section 4) of raw bytes,
// and Dovecot also accepts hex for the fixed-length digests. Decoding accepts
// missing padding (some tools strip it) but nothing outside the alphabet, no
// whitespace and no non-zero trailing bits. Internal to auth/.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace submitd::auth {

std::string base64_encode(std::string_view data);

/// @return the decoded bytes, or nullopt when `text` is not base64.
std::optional<std::string> base64_decode(std::string_view text);

/// @return the decoded bytes, or nullopt when `text` is not an even number of
/// hex digits (either case).
std::optional<std::string> hex_decode(std::string_view text);

}  // namespace submitd::auth
