// IMAP4rev1 server responses (RFC 3501 section 7) parsed sans-I/O: a
// response_parser takes bytes and yields one complete response at a time,
// literals included, so that no literal byte is ever read as a response. It
// understands what the BURL client needs (status responses and their codes,
// CAPABILITY, FETCH with UID and BODY[...], URLFETCH of RFC 4467) and skips
// the syntax of every other untagged response without keeping it.
//
// Limits guard against a hostile or broken server (or a man in the middle
// before STARTTLS): the text of a response outside its literals is at most
// max_line bytes, a literal is at most max_other_literal bytes unless it is
// the data being fetched (data_target), which is kept up to its max_size and
// otherwise skipped byte-exactly and reported as too_big. Anything that is
// not the grammar below is bad_input and the parser stays failed: a server
// that sends garbage is not trusted with the rest of the stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/ascii.hpp"

namespace submitd::imap {

enum class response_type {
    continuation,  ///< "+ text"
    tagged,        ///< "a1 OK text"
    untagged,      ///< "* ..."
};

enum class status_word { none, ok, no, bad, bye, preauth };

/// What a FETCH or URLFETCH response held for the data_target.
enum class data_state {
    absent,   ///< no data for the target in this response
    nil,      ///< NIL
    value,    ///< octets holds it
    too_big,  ///< larger than max_size: skipped, data_size says how large
};

/// The data a command waits for. Only a literal in that position is kept
/// whole (up to max_size); every other literal is skipped unread.
struct data_target {
    enum class kind {
        none,
        urlfetch,  ///< "* URLFETCH" SP url SP nstring, url equal to `url` byte for byte
        fetch,     ///< "* n FETCH (... BODY[section]<origin> nstring ...)"
    };
    kind what = kind::none;
    std::string url;                      ///< urlfetch
    std::string section;                  ///< fetch: compared case-insensitively
    std::optional<std::uint64_t> origin;  ///< fetch: "<n>" after the section; none: no origin
    std::uint64_t max_size = 0;
};

struct response {
    response_type type = response_type::untagged;
    std::string tag;                         ///< tagged: the tag
    status_word status = status_word::none;  ///< tagged, and untagged OK/NO/BAD/BYE/PREAUTH
    std::string name;  ///< untagged: "OK", "CAPABILITY", "FETCH", "EXISTS", ... upper-cased
    std::optional<std::uint32_t> number;  ///< "* 3 EXISTS", "* 3 FETCH": the 3
    /// Status responses and continuations: the text after the status word
    /// (or "+"), with the response code as sent; for logs.
    std::string text;
    std::string code;       ///< "[UIDVALIDITY 7]": "UIDVALIDITY" (upper-cased); empty: none
    std::string code_args;  ///< "[UIDVALIDITY 7]": "7"
    /// A CAPABILITY response or a [CAPABILITY ...] code: the names, upper-cased.
    std::vector<std::string> capabilities;
    std::optional<std::uint32_t> uid;  ///< FETCH: the UID attribute, if any
    data_state data = data_state::absent;
    std::string octets;           ///< data == value: the bytes, exactly as sent
    std::uint64_t data_size = 0;  ///< data == value or too_big: the size the server announced
};

enum class parse_status { need_more, complete, bad_input };

struct parse_result {
    std::size_t consumed = 0;
    parse_status status = parse_status::need_more;
};

struct parser_limits {
    std::size_t max_line = 65536;  ///< a response's bytes outside literals, CRLFs not counted
    std::uint64_t max_other_literal = 1 << 20;  ///< any literal but the target's data
};

/// The most capability names kept from one response; more are ignored.
inline constexpr std::size_t max_capabilities = 1024;

class response_parser {
public:
    explicit response_parser(parser_limits limits = {}) : limits_(limits) {}

    /// Consumes bytes up to the end of one complete response (complete) or
    /// all of `in` (need_more). A partial response is kept, its text never
    /// beyond max_line bytes. After bad_input every call returns bad_input
    /// and consumes nothing, until reset().
    parse_result parse(std::string_view in);
    /// @pre the last parse() returned complete. Moves the response out.
    response take();
    /// Why the last parse() returned bad_input.
    const std::string& error() const { return error_; }
    /// The target for responses that begin after this call (a response
    /// already under way keeps the one it began with).
    void set_target(data_target target) { next_target_ = std::move(target); }
    /// Forgets any partial response and a failure; keeps the target.
    void reset();

private:
    enum class context { other, capability, fetch, urlfetch };
    enum class literal_role { skip, data, too_big, url };

    bool begin(std::string_view piece);
    bool status_text(std::string_view rest);
    bool tokens(std::string_view piece);
    bool on_open();
    bool on_close();
    bool on_atom(std::string_view atom);
    bool on_string(std::string_view value, bool nil);
    bool on_literal_header(std::uint64_t size);
    void on_literal_end();
    bool check_fetch_value();
    void value_done();
    bool is_data_position() const;
    void set_data(data_state state, std::uint64_t size);
    bool finish();
    bool fail(std::string why);

    parser_limits limits_;
    data_target next_target_;
    data_target target_;  // latched when a response begins
    response current_;
    std::string error_;
    bool failed_ = false;
    bool complete_ = false;  // current_ is complete; the next parse() begins anew
    bool fresh_ = true;      // no byte of current_ read yet (target_ not latched)
    bool started_ = false;   // the first line of current_ has been read

    std::string line_;            // the current line piece, up to its LF
    std::size_t text_bytes_ = 0;  // current_'s bytes outside literals so far
    std::uint64_t literal_size_ = 0;
    std::uint64_t literal_left_ = 0;
    bool in_literal_ = false;
    literal_role role_ = literal_role::skip;
    std::string* sink_ = nullptr;  // where the literal goes; nullptr: skipped

    // Token state of a response whose data is tokenised.
    context context_ = context::other;
    std::size_t depth_ = 0;
    bool list_seen_ = false;          // fetch: the attribute list was opened
    bool list_closed_ = false;        // fetch: ... and closed; nothing may follow
    bool expect_name_ = true;         // fetch: next at depth 1 is an attribute name
    bool nested_value_ = false;       // fetch: a list value at depth 1 is open
    std::string attribute_;           // fetch: the attribute name, as sent
    bool expect_url_ = true;          // urlfetch: next at depth 0 is a URL
    std::optional<std::string> url_;  // urlfetch: the URL of the pair under way
    std::string literal_value_;       // a URL sent as a literal
};

/// `s` with a-z upper-cased.
std::string to_upper(std::string_view s);
using core::iequals;
/// An IMAP number (RFC 3501: 1*DIGIT, at most 2^32-1).
std::optional<std::uint32_t> parse_number(std::string_view s);

}  // namespace submitd::imap
