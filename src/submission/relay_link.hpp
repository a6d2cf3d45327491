// What the submission driver sends mail through: a connection to the relay
// MTAs (relay_connection, over TCP or a UNIX socket, with TLS, AUTH and
// XCLIENT) or the local Maildir outbox (outbox). One per session, opened
// when a transaction first needs it and reused for the session's later
// transactions.
#pragma once

#include <asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "relay/reply.hpp"
#include "submission/spool.hpp"
#include "submission/submission_machine.hpp"

namespace submitd::submission {

class relay_link {
public:
    virtual ~relay_link() = default;

    /// Sends `lines` (pipelined when the relay allows) and returns one reply
    /// per line, in order; nullopt when the relay could not be reached or the
    /// connection broke (failure() says which; the link is then closed).
    virtual asio::awaitable<std::optional<std::vector<relay::reply>>> commands(
        const std::vector<std::string>& lines) = 0;

    /// Sends the message of `tx` (its MAIL and RCPTs already accepted on
    /// this link): `header` then the spool. When the connection breaks before
    /// the end of the message was sent, it tries a fresh connection (the
    /// next relay first), replaying MAIL and RCPT, before giving up.
    virtual asio::awaitable<relay_outcome> message(const transaction& tx, std::string header,
                                                   const spool& body) = 0;
    /// The client has begun a message with DATA (354 given): a link that
    /// will send it with DATA may say DATA now, while the client is still
    /// sending, and read the relay's 354 in message(). The relay then waits
    /// for a body, so a transaction that does not reach message() must not
    /// send it anything else on that connection.
    virtual asio::awaitable<void> begin_data() { co_return; }
    /// More of a message begun with begin_data() is in `body` (the client is
    /// still sending it, nothing refused it so far): a link that said DATA may
    /// pass `header` and what it has not sent of `body` on now, so that a big
    /// message reaches the relay while it arrives, not after. message() sends
    /// the rest (or, the connection having broken, all of it again on a new
    /// one). `header` must be the one message() will be given.
    virtual asio::awaitable<void> stream(const std::string& header, const spool& body) {
        static_cast<void>(header);
        static_cast<void>(body);
        co_return;
    }

    virtual relay_failure failure() const = 0;
    /// The relay in use, for logs.
    virtual const std::string& address() const = 0;
    /// Says QUIT (when connected) and closes; safe to call twice.
    virtual asio::awaitable<void> close() = 0;
    /// The session is over: close(), or keep the connection for another
    /// session. `self` owns this link (the caller hands it over).
    virtual asio::awaitable<void> release(std::unique_ptr<relay_link> self) {
        co_await close();
        self.reset();
    }
    /// Closes the connection at once, without QUIT (used while no exchange
    /// is under way, e.g. when it has been idle too long).
    virtual void abort(std::string_view reason) = 0;
    /// True while a connection is open.
    virtual bool connected() const = 0;
    /// What the relay announced on the current connection; nullopt when unknown.
    virtual std::optional<relay::capabilities> learnt() const = 0;
};

}  // namespace submitd::submission
