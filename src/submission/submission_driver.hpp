// Runs the post-login stage on a connection handed over by the login stage:
// reads, feeds the submission_machine, writes its replies, and performs its
// relay actions through a relay_link (the relay connection or the outbox),
// with the same idle and command deadlines as before login. It logs one
// line per message.
#pragma once

#include <asio/awaitable.hpp>
#include <memory>
#include <string>

#include "config/settings.hpp"
#include "ipc/handoff.hpp"
#include "net/stream.hpp"
#include "relay/caps_cache.hpp"
#include "submission/imap_fetcher.hpp"
#include "submission/relay_connection.hpp"

namespace submitd::submission {

struct submission_context {
    std::string hostname;
    std::vector<std::string> mechanisms;
    bool allow_plaintext_auth = false;
    bool starttls_listener = true;
    config::limits_settings limits;
    config::submission_settings submission;
    std::shared_ptr<const relay_context> relays;  ///< null when no relay is configured
    std::shared_ptr<relay::caps_cache> caps;
    std::shared_ptr<const burl_context> burl;  ///< null when no BURL server is configured
};

struct submission_result {
    std::string reason;
    unsigned commands = 0;
};

asio::awaitable<submission_result> run_submission(net::stream_ptr stream,
                                                  std::shared_ptr<const submission_context> ctx,
                                                  std::unique_ptr<ipc::handoff> handoff);

}  // namespace submitd::submission
