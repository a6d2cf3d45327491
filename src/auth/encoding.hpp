// Base64 and hex as they appear in Dovecot password hashes: the data of
// {SSHA256}, {SHA512} and friends is base64 (RFC 4648 section 4) of raw bytes,
// and Dovecot also accepts hex for the fixed-length digests. Base64 here is
// core's strict decoder, except that missing padding is accepted (some tools
// strip it). Internal to auth/.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace submitd::auth {

/// @return the decoded bytes, or nullopt when `text` is not base64 (padding optional).
std::optional<std::string> base64_decode(std::string_view text);

/// @return the decoded bytes, or nullopt when `text` is not an even number of
/// hex digits (either case).
std::optional<std::string> hex_decode(std::string_view text);

}  // namespace submitd::auth
