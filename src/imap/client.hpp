// The IMAP4rev1 client (RFC 3501) that resolves BURL URLs (RFC 4468) as a
// sans-I/O state machine: greeting, CAPABILITY, optionally STARTTLS and
// CAPABILITY again, the login (AUTHENTICATE PLAIN, with SASL-IR when offered,
// or LOGIN), then any number of fetches, then LOGOUT. A fetch is URLFETCH
// (RFC 4467, logged in as the submit user) or, for a trusted server, EXAMINE
// and UID FETCH BODY.PEEK[...] (logged in as the user through a master-user
// PLAIN login). The driver connects, feeds the server's bytes in, writes what
// output() holds, performs the TLS handshake on request, and closes the
// connection at done or failed. It never touches a socket.
//
// Failures (failed) carry the stage and the reason, with the server's text
// when it sent one: a greeting other than OK (PREAUTH and BYE included),
// STARTTLS required but not offered or refused, bytes after the OK to STARTTLS
// (injected before TLS), no login method we may use or the login refused, a
// BYE other than the one LOGOUT asks for, a tagged response with a tag we did
// not send, an unexpected continuation request, and malformed or oversized
// responses (response.hpp). What the server answers to a fetch is a
// fetch_result, not a failure: the connection stays usable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/secret.hpp"
#include "imap/response.hpp"

namespace submitd::imap {

enum class imap_tls { none, starttls, implicit };

/// What may go inside BODY.PEEK[...] as it is (it comes from a BURL URL, so
/// from the SMTP client): RFC 3501 section-spec characters (part numbers,
/// HEADER, HEADER.FIELDS[.NOT] (names), TEXT, MIME) with balanced
/// parentheses; nothing that could end the brackets, start a literal or
/// another command.
bool is_sendable_section(std::string_view s);

struct client_settings {
    /// implicit: the driver does TLS before start(); the machine behaves as none.
    imap_tls tls = imap_tls::none;
    std::string user;  ///< authentication identity
    std::string
        authzid;  ///< authorization identity (master-user login via SASL PLAIN); empty: none
    core::secret_string* password = nullptr;  ///< not owned; read when the login is sent
    std::size_t max_line = 65536;             ///< longest response line (outside literals)
    /// Largest literal accepted in responses other than the fetched data.
    std::uint64_t max_other_literal = 1 << 20;
};

enum class step {
    read,       ///< flush output() (if any), feed more server bytes with on_input()
    start_tls,  ///< flush output(), do the TLS client handshake, call on_tls_established()
    ready,   ///< logged in and idle: a fetch or logout may be started; after a fetch, result() is
             ///< valid
    done,    ///< logged out (tagged OK to LOGOUT)
    failed,  ///< unusable connection: failure_info() says why; the driver closes it
};

/// ok: octets holds the data. nil: the server will not resolve it (URLFETCH
/// answered NIL or nothing; EXAMINE refused or UIDVALIDITY mismatch; UID
/// FETCH gave no data for that UID, or NIL), or the request cannot be sent
/// (a NUL in it, UID 0, a bad section). too_big: the server announced more
/// than max_size octets (they were read and dropped; the connection stays
/// usable). error: a tagged NO or BAD to URLFETCH or UID FETCH, or BAD to
/// EXAMINE (the server is failing; the connection stays usable).
enum class fetch_status { ok, nil, too_big, error };

struct fetch_result {
    fetch_status status = fetch_status::nil;
    std::string octets;
    std::string text;  ///< the server's text, or why the machine decided; for logs
};

struct failure {
    std::string stage;  ///< greeting, capability, starttls, login, fetch, logout
    std::string reason;
};

/// The driver's loop:
///
///     step = c.start();
///     for (;;) {
///         write c.output() if not empty, then c.clear_output();
///         if (step == start_tls) { TLS handshake; step = c.on_tls_established(); continue; }
///         if (step == ready) { step = c.urlfetch(...) / c.uid_fetch(...) / c.logout(); continue; }
///         if (step == done || step == failed) break;
///         if (in_ is empty) read more into in_ (EOF, error or timeout: give up);
///         step = c.on_input(in_, consumed); erase the first `consumed` bytes of in_;
///     }
///
/// Each call's output() must be written before the next call into the
/// machine, which replaces (and wipes) it. on_input() consumes responses
/// until it needs more bytes, has a command to write, or a command is
/// complete; so it may return with bytes left over: write the output, act on
/// the step, then call it again with the rest before reading more. While
/// ready, on_input() may be called to watch the idle connection: it skips
/// untagged responses and fails on a BYE.
class client {
public:
    explicit client(client_settings s);

    /// Call after connecting (and, with implicit TLS, after the TLS
    /// handshake). Returns read: the greeting comes next.
    step start();
    /// @pre the last step was start_tls. Forgets the capabilities (RFC 3501
    /// section 6.2.1) and asks for them again.
    step on_tls_established();
    /// Feeds server bytes; `consumed` says how many were used. It returns
    /// start_tls only when the OK to STARTTLS was the last byte of `in`:
    /// anything after it came in plaintext and could have been injected by a
    /// man in the middle (CVE-2011-0411, the same in IMAP), so it fails.
    /// At done or failed it consumes nothing.
    step on_input(std::string_view in, std::size_t& consumed);

    /// @pre ready. RFC 4467 section 3: URLFETCH url. Returns read (the
    /// command is in output()), or ready with result() set when the URL
    /// cannot be sent (a NUL in it).
    step urlfetch(std::string_view url, std::uint64_t max_size);
    /// @pre ready. EXAMINE `mailbox` (skipped when it is already selected
    /// with the same UIDVALIDITY), compare its [UIDVALIDITY n] with
    /// `uidvalidity` when given, then UID FETCH uid (BODY.PEEK[section]) or
    /// BODY.PEEK[section]<offset.length> with `partial`. Returns read, or
    /// ready with result() set when the request cannot be sent.
    step uid_fetch(std::string_view mailbox, std::optional<std::uint32_t> uidvalidity,
                   std::uint32_t uid, std::string_view section,
                   std::optional<std::pair<std::uint64_t, std::uint64_t>> partial,
                   std::uint64_t max_size);
    /// @pre ready. Sends LOGOUT; done at its tagged OK.
    step logout();

    /// What the last call asks to be written (a command or part of one).
    std::string& output() { return out_.value; }
    /// Wipes and empties output(); call it once output() has been written, so
    /// the login line (the password) does not linger.
    void clear_output();
    /// The last fetch's outcome; valid when ready follows a fetch.
    const fetch_result& result() const { return result_; }
    /// Moves the fetched octets out of result() (they may be megabytes).
    std::string take_octets() { return std::move(result_.octets); }
    const failure& failure_info() const { return failure_; }
    /// The server's capabilities, upper-cased.
    const std::vector<std::string>& capabilities() const { return caps_; }
    /// The server sent its BYE to LOGOUT: a close from now on is no failure.
    bool bye_seen() const { return bye_seen_; }

private:
    enum class state {
        initial,
        greeting,       // awaiting the greeting
        capability,     // sent CAPABILITY
        starttls,       // sent STARTTLS
        tls_handshake,  // returned start_tls, awaiting on_tls_established()
        login,          // sent AUTHENTICATE or LOGIN (perhaps in parts)
        ready,
        examine,    // sent EXAMINE
        uid_fetch,  // sent UID FETCH
        urlfetch,   // sent URLFETCH
        logout,     // sent LOGOUT
        done,
        failed,
    };

    using wiped_string = core::wiped_string;

    class builder;

    void on_response(response&& r);
    void on_untagged(response& r);
    void on_tagged(response& r);
    void on_greeting(response& r);
    void after_capabilities();
    void send_login();
    void send_examine();
    void send_uid_fetch();
    void send(std::vector<wiped_string>&& parts);
    void finish_fetch(fetch_status status, std::string text);
    step local_result(fetch_status status, std::string text);
    void set_capabilities(std::vector<std::string>&& caps);
    bool has_capability(std::string_view name) const;
    std::string next_tag();
    step current_step() const;
    const char* stage() const;
    step fail(std::string reason);

    client_settings settings_;
    response_parser parser_;
    state state_ = state::initial;
    std::vector<std::string> caps_;
    bool have_caps_ = false;
    bool tls_done_ = false;
    bool bye_seen_ = false;
    unsigned long tag_count_ = 0;
    std::string tag_;                  // the command under way; empty: none
    std::vector<wiped_string> parts_;  // the command, cut after each literal header
    std::size_t next_part_ = 0;        // the part a continuation request gets
    wiped_string out_;
    fetch_result result_;
    failure failure_;

    // The fetch under way.
    std::string mailbox_;
    std::optional<std::uint32_t> uidvalidity_;
    std::uint32_t uid_ = 0;
    std::string section_;
    std::optional<std::pair<std::uint64_t, std::uint64_t>> partial_;
    std::uint64_t max_size_ = 0;
    std::optional<std::uint32_t> examined_uidvalidity_;  // [UIDVALIDITY n] during EXAMINE
    data_state data_ = data_state::absent;
    std::uint64_t data_size_ = 0;

    // The mailbox EXAMINE selected, with its UIDVALIDITY.
    std::optional<std::string> selected_;
    std::optional<std::uint32_t> selected_uidvalidity_;
};

}  // namespace submitd::imap
