// The Received header submitd prepends (RFC 5321 section 4.4, RFC 6409
// section 8.2 on submission), e.g.
//
//   Received: from client.example ([192.0.2.7])
//           by mail.example.org (submitd) with ESMTPSA id 1a2b3c.1
//           (TLSv1.3 TLS_AES_256_GCM_SHA384)
//           (authenticated sender: alice)
//           for <bob@example.net>; Sun, 29 Nov 2026 07:30:00 +0000
//
// In privacy mode the hop stays but the client's address and HELO name are
// left out. Values that came from the client are cleaned of anything that
// could break the header (CR, LF, control bytes, and parentheses in HELO).
#pragma once

#include <ctime>
#include <string>
#include <string_view>

#include "ipc/handoff.hpp"

namespace submitd::submission {

struct received_fields {
    const ipc::handoff* session = nullptr;
    std::string_view hostname;
    std::string_view transaction_id;
    std::string_view recipient;  ///< the only recipient, or empty when there are several
    bool privacy = false;
    std::time_t when = 0;
};

/// The whole header field, folded, ending in CRLF.
std::string received_header(const received_fields& f);

}  // namespace submitd::submission
