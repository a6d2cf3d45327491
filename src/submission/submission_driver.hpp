// Runs the post-login stage on a connection handed over by the login stage:
// reads, feeds the submission_machine, writes its replies, with the same
// idle and command deadlines as before login.
#pragma once

#include <asio/awaitable.hpp>
#include <memory>
#include <string>

#include "config/settings.hpp"
#include "ipc/handoff.hpp"
#include "net/stream.hpp"
#include "smtp/capabilities.hpp"

namespace submitd::submission {

struct submission_context {
    std::string hostname;
    std::vector<std::string> mechanisms;
    bool allow_plaintext_auth = false;
    bool starttls_listener = true;
    config::limits_settings limits;
};

struct submission_result {
    std::string reason;
    unsigned commands = 0;
};

asio::awaitable<submission_result> run_submission(net::stream_ptr stream,
                                                  std::shared_ptr<const submission_context> ctx,
                                                  ipc::handoff handoff);

}  // namespace submitd::submission
