// The bytes a load generator connection sends, built once per run and shared
// read-only by every connection and thread: EHLO, AUTH PLAIN with its initial
// response, the envelope (MAIL, RCPT..., DATA, each command's end recorded so
// that it can also be sent one command at a time) and the message itself,
// dot-stuffed and terminated (RFC 5321 4.5.2). Reports a --size too small for
// the headers as std::invalid_argument.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "loadgen/options.hpp"

namespace submitd::bench {

struct script {
    std::string ehlo;                       ///< "EHLO name\r\n"
    std::string starttls;                   ///< "STARTTLS\r\n"
    std::string auth;                       ///< "AUTH PLAIN <base64>\r\n", empty without --user
    std::string quit;                       ///< "QUIT\r\n"
    std::string envelope;                   ///< MAIL FROM, RCPT TO..., DATA
    std::vector<std::size_t> command_ends;  ///< end offset of each envelope command
    std::string body;                       ///< the message on the wire, ".\r\n" included
    std::size_t message_size = 0;           ///< bytes of the message before dot-stuffing
};

/// @throws std::invalid_argument when opts.size cannot hold the headers.
script build_script(const options& opts);

}  // namespace submitd::bench
