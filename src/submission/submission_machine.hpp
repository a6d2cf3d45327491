// The post-login (submission) stage as a sans-I/O state machine (DESIGN.md
// sections 2.2 and 3). It starts from an ipc::handoff and shares nothing
// else with the login stage. Mail transactions are proxied: MAIL and RCPT
// go to the relay (pipelined in one group when the client pipelined them and
// the relay can take it; MAIL held until the first RCPT, which takes it
// along) and the relay's replies come back in order; DATA is
// taken into the spool here and sent on only once complete, so a client that
// vanishes mid-message leaves nothing at the relay; the client hears 250 for
// a message only when the relay said 250 for it (DESIGN.md section 2.1).
//
// The machine never does I/O: it asks the driver to send relay commands
// (relay_commands: relay_out() lines, replies back through
// on_relay_replies()) or the spooled message (relay_message: then
// on_relay_final()), and reports relay failures through on_relay_failed().
//
// Replies of its own: 501/553/555 for bad MAIL and RCPT arguments (from
// smtp/params), 503 5.5.1 for bad sequences, 554 5.5.1 DATA without an
// accepted recipient, 452 4.5.3 too many recipients, 552 5.3.4 too big,
// 554 5.6.0 bare CR or LF, 555 5.5.4 a parameter the relay cannot carry,
// 451 4.4.1 relay unreachable, 451 4.4.2 outcome unknown, 451 4.3.0 no relay.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "imap/url.hpp"
#include "ipc/handoff.hpp"
#include "relay/reply.hpp"
#include "smtp/address.hpp"
#include "smtp/capabilities.hpp"
#include "smtp/data_codec.hpp"
#include "smtp/line_reader.hpp"
#include "submission/spool.hpp"

namespace submitd::submission {

/// An IMAP server BURL may fetch from, as the machine checks URLs against it.
struct burl_server {
    std::string host;  ///< lower-cased
    std::uint16_t port = 143;
    bool urlauth = false;  ///< fetches URLs with URLAUTH through URLFETCH
    bool trusted = false;  ///< fetches the login's own messages as the login
};

struct submission_settings {
    smtp::capability_state capabilities;  ///< as announced to this connection
    std::size_t max_command_line = 2048;
    unsigned max_bad_commands = 10;
    unsigned max_recipients = 100;
    std::uint64_t max_message_size = 40ull << 20;  ///< effective: the relay's limit included
    smtp::path_options path;
    smtp::bare_lf_policy bare_lf = smtp::bare_lf_policy::normalize;
    smtp::bare_cr_policy bare_cr = smtp::bare_cr_policy::reject;
    bool relay_configured = true;
    relay::capabilities relay;              ///< the relay's, as last learnt
    std::vector<burl_server> burl_servers;  ///< none: BURL is refused (502)
};

enum class action {
    need_input,      ///< flush output() and read more client bytes
    relay_commands,  ///< send relay_out() to the relay; pass its replies to on_relay_replies()
    relay_message,   ///< send the spooled message; pass the outcome to on_relay_final()
    fetch_url,       ///< flush output(), fetch burl_fetch(); pass the outcome to on_burl_fetched()
    close,           ///< flush output() and close
};

/// How a relay exchange failed.
enum class relay_failure {
    unreachable,      ///< no relay could be connected to (or its handshake failed)
    lost,             ///< the connection broke or timed out before a reply
    xclient_refused,  ///< the relay would not take XCLIENT
};

/// The outcome of sending a message.
struct relay_outcome {
    std::optional<relay::reply> reply;            ///< the relay's final reply, when it came
    bool end_sent = false;                        ///< the end of the message reached the relay
    relay_failure failure = relay_failure::lost;  ///< without a reply
};

/// One mail transaction as the relay sees it (for replay on failover and logs).
struct transaction {
    std::string id;
    std::string reverse_path;
    std::string mail_line;                ///< "MAIL FROM:<...> ..." as sent to the relay
    std::vector<std::string> rcpt_lines;  ///< accepted recipients, as sent
    std::vector<std::string> recipients;  ///< their addresses
};

/// A local refusal decided before a BDAT chunk is read, sent once it has been.
struct smtp_error {
    int code = 0;
    std::string enhanced;
    std::string text;
};

/// A BURL URL to fetch (RFC 4468), checked against the configuration and
/// the login before the driver connects anywhere.
struct burl_request {
    std::size_t server = 0;  ///< index into submission_settings::burl_servers
    bool urlauth = true;     ///< URLFETCH as the URLAUTH account; false: UID FETCH as the login
    imap::imap_url url;
    std::string mailbox;         ///< the URL's mailbox as IMAP names it (modified UTF-7)
    std::uint64_t max_size = 0;  ///< octets the message can still take
};

enum class burl_status {
    ok,           ///< octets fetched
    nil,          ///< the server will not resolve the URL (revoked, expired, wrong key, gone)
    too_big,      ///< more than max_size octets
    unavailable,  ///< the server could not be reached, timed out or failed
};

struct burl_result {
    burl_status status = burl_status::unavailable;
    std::string octets;
};

class submission_machine {
public:
    submission_machine(const submission_settings& settings, ipc::handoff handoff,
                       spool& message_spool);

    action on_input(std::string_view in, std::size_t& consumed);
    action on_relay_replies(std::vector<relay::reply> replies);
    action on_relay_failed(relay_failure failure);
    action on_relay_final(const relay_outcome& outcome);
    action on_burl_fetched(burl_result result);
    void on_timeout();
    void on_shutdown();

    std::string& output() { return out_; }
    /// Commands for the relay (without CRLF), valid with action::relay_commands.
    const std::vector<std::string>& relay_out() const { return relay_out_; }
    /// The transaction being sent, valid with action::relay_message.
    const transaction& current() const { return tx_; }
    /// The URL to fetch, valid with action::fetch_url.
    const burl_request& burl_fetch() const { return *burl_; }
    bool in_command() const { return partial_ || in_body(); }
    /// Reading a message body (DATA or a BDAT chunk).
    bool in_body() const { return in_data_ || in_bdat_; }
    /// Reading a message sent with DATA (not BDAT chunks).
    bool in_data() const { return in_data_; }
    /// True while a DATA body is arriving and nothing has doomed it yet (not
    /// too big, no bare CR or LF refused, the spool writable): what the spool
    /// holds may go on to the relay before the end.
    bool body_clean() const;
    unsigned commands() const { return commands_; }
    std::string_view close_reason() const { return close_reason_; }
    const ipc::handoff& session() const { return handoff_; }

private:
    enum class slot_kind { local, mail, rcpt, forward, silent };
    struct slot {
        slot_kind kind;
        std::string local;      ///< the reply text, for slot_kind::local
        std::string rcpt_line;  ///< for slot_kind::rcpt
        std::string address;    ///< for slot_kind::rcpt
    };

    action process(std::string_view in, std::size_t& consumed);
    /// @return true when the command was taken; false when it must wait for
    /// the pending relay group (the line is kept in deferred_).
    bool dispatch(std::string_view line);
    void cmd_mail(std::string_view args);
    void cmd_rcpt(std::string_view args);
    void cmd_data(std::string_view args);
    void cmd_bdat(std::string_view args);
    void cmd_burl(std::string_view args);
    /// @return the request for `url`, or false after replying why not.
    bool check_burl_url(std::string_view text, burl_request& req);
    action take_chunk(std::string_view in, std::size_t& consumed);
    action finish_chunk();
    /// Ends a BDAT chunk or BURL part that was taken (bdat_size_ octets,
    /// bdat_last_): replies 250, 552 or 451, or asks for the relay.
    action finish_part();
    /// Why a BDAT or BURL cannot be taken now (sequence), if it cannot.
    std::optional<smtp_error> chunk_refusal() const;
    /// The first chunk or part of a message starts an empty spool.
    void begin_chunk();
    void cmd_rset();
    void cmd_vrfy(std::string_view args);
    void cmd_ehlo(std::string_view args, bool esmtp);
    action finish_data();
    void reset_transaction();

    void reply(int code, std::string_view enhanced, std::string_view text);
    void error(int code, std::string_view enhanced, std::string_view text,
               std::string_view log_reason);
    void close(int code, std::string_view enhanced, std::string_view text, std::string_view reason);
    void relay_reply(const relay::reply& r) { emit(format_relay_reply(r)); }
    /// The client's reply for relay reply `r`.
    std::string format_relay_reply(const relay::reply& r) const;
    /// Sends a formatted reply: now, or after the pending relay group's.
    void emit(std::string reply);
    bool group_pending() const { return !relay_out_.empty(); }
    /// The relay holds a transaction of ours (MAIL sent and not refused).
    bool relay_in_transaction() const { return tx_open_ && !mail_held_ && !mail_refused_; }

    const submission_settings& settings_;
    ipc::handoff handoff_;
    spool& spool_;
    smtp::line_reader reader_;
    std::string out_;
    std::vector<std::string> relay_out_;
    std::vector<slot> slots_;
    std::optional<std::string> deferred_;
    transaction tx_;
    bool tx_open_ = false;    ///< the client's MAIL was accepted (the transaction is open)
    bool mail_held_ = false;  ///< MAIL not yet sent: it goes with the first RCPT
    std::optional<relay::reply> mail_refused_;  ///< the relay refused MAIL: RCPTs get this
    bool smtputf8_ = false;
    bool binarymime_ = false;  ///< BODY=BINARYMIME: only BDAT may carry it
    unsigned rcpts_pending_ = 0;
    std::optional<smtp::data_decoder> data_;
    bool in_data_ = false;
    bool oversize_ = false;
    bool spool_failed_ = false;
    // BDAT (RFC 3030): the chunk being read, and the transaction's state.
    bool in_bdat_ = false;
    std::uint64_t bdat_left_ = 0;
    std::uint64_t bdat_size_ = 0;
    bool bdat_last_ = false;
    bool bdat_used_ = false;                ///< this transaction used BDAT: DATA is refused
    bool bdat_failed_ = false;              ///< a chunk was refused: later ones get 503 until RSET
    std::optional<smtp_error> bdat_error_;  ///< the reply for a chunk read only to be dropped
    std::string chunk_;
    /// A BURL waiting for its fetch (on the heap: most sessions never use
    /// BURL, and an idle session should not carry its size).
    std::unique_ptr<burl_request> burl_;
    bool burl_last_ = false;
    unsigned tx_counter_ = 0;
    unsigned commands_ = 0;
    unsigned bad_commands_ = 0;
    bool partial_ = false;
    bool closed_ = false;
    std::string close_reason_;
};

}  // namespace submitd::submission
