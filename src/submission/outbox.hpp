// The local outbox: a "relay" that writes each accepted message, with its
// envelope, into a Maildir (tmp/, then new/), fsync'd before the 250, so
// submitd can be tried without an MTA. The file holds "X-Envelope-From:" and
// one "X-Envelope-To:" line per recipient, then the message exactly as a
// relay would get it (Received header first, CRLF line ends). Its writes
// block the event loop briefly: it is for trying submitd out and for tests,
// not for production traffic.
#pragma once

#include <string>

#include "submission/relay_link.hpp"

namespace submitd::submission {

class outbox final : public relay_link {
public:
    explicit outbox(std::string path);

    asio::awaitable<std::optional<std::vector<relay::reply>>> commands(
        const std::vector<std::string>& lines) override;
    asio::awaitable<relay_outcome> message(const transaction& tx, std::string header,
                                           const spool& body) override;
    relay_failure failure() const override { return relay_failure::lost; }
    const std::string& address() const override { return address_; }
    asio::awaitable<void> close() override { co_return; }
    bool connected() const override { return false; }
    void abort(std::string_view /*reason*/) override {}
    std::optional<relay::capabilities> learnt() const override { return std::nullopt; }

private:
    std::string path_;
    std::string address_;
};

}  // namespace submitd::submission
