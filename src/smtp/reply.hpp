// SMTP replies (RFC 5321 section 4.2) with enhanced status codes (RFC 3463,
// RFC 2034): every reply submitd writes is built here, so each one carries an
// enhanced code and no text can break the line structure (CR, LF and other
// control bytes in the text are replaced by '?').
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace submitd::smtp {

/// Appends "<code> <enhanced> <text>\r\n". An empty `enhanced` is left out
/// (the greeting and EHLO replies have none).
void append_reply(std::string& out, int code, std::string_view enhanced, std::string_view text);

/// Appends a multi-line reply: "<code>-<line>\r\n" ... "<code> <last>\r\n".
/// @pre `lines` is not empty.
void append_multiline(std::string& out, int code, std::span<const std::string> lines);

}  // namespace submitd::smtp
