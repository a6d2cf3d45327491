// Finds one complete SMTP reply at the start of a buffer (RFC 5321 4.2):
//   Reply-line = *( Reply-code "-" [ textstring ] CRLF )
//                Reply-code [ SP textstring ] CRLF
// Bare LF is accepted as a line end. A line without a three-digit code, with
// another separator, or a code that differs from the first line's is
// malformed. Sans-I/O: no allocation, the caller owns the bytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace submitd::bench {

enum class reply_status { need_more, complete, malformed };

struct reply {
    reply_status status = reply_status::need_more;
    int code = 0;
    std::size_t size = 0;       ///< bytes of the whole reply, final line end included
    std::size_t last_line = 0;  ///< offset of the final line
};

reply parse_reply(std::string_view in);

/// Whether an EHLO reply lists `keyword` (case-insensitive) on one of its
/// lines after the first.
bool has_ehlo_keyword(std::string_view ehlo_reply, std::string_view keyword);

/// The final line of a reply without its line end, control bytes replaced by
/// '?', cut at 200 bytes: for error reports.
std::string final_line(std::string_view text, const reply& r);

}  // namespace submitd::bench
