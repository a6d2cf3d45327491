// The DATA body codec, sans-I/O, both ways (RFC 5321 sections 4.1.1.4 and
// 4.5.2): data_decoder turns what a client sends after the 354 into message
// bytes (dot-unstuffed, line ends normalized to CRLF) and finds the end of
// data; dot_stuffer turns message bytes into what goes to a relay after its
// 354. Both are streaming transforms with a few bytes of state: the result
// does not depend on how the input is split, and nothing is buffered.
//
// The decoder accepts only a strict CRLF "." CRLF as the end of data, so a
// client cannot smuggle a second message past us (CVE-2023-51764/51765/51766).
// It reports bare CR and bare LF through flags, per policy; it does not count
// against a size limit or look at 8-bit bytes or NULs: that is the session's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace submitd::smtp {

/// What the decoder does with a bare LF (an LF not preceded by CR).
enum class bare_lf_policy {
    normalize,  ///< send it on as CRLF (the default: many clients send bare LF)
    reject,     ///< flag the message for a 554 5.6.0 once it has been read to its end
};

/// What the decoder does with a bare CR (a CR not followed by LF).
enum class bare_cr_policy {
    reject,     ///< flag the message for a 554 5.6.0 once it has been read to its end (default)
    normalize,  ///< send it on as CRLF
};

/// Decodes the body of a DATA command as the client sends it, after the 354.
///
/// The only end of data is CR LF "." CR LF in which both line ends are real
/// CRLF; the start of the body counts as following a CRLF, so a body that is
/// just ".\r\n" is an empty message. Everything else is content:
///  - a bare CR or bare LF is, per policy, written as CRLF or flagged; either
///    way it ends the line for what follows, but never counts as one of the
///    two CRLF of the end marker ("\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r" ...);
///  - a line starting with "." loses that first dot (RFC 5321 section 4.5.2),
///    except a line that is only "." and is not the end marker (its ends are
///    not both real CRLF): it stays "." so that the relay receives it as a
///    line "." too (dot_stuffer sends it as "..\r\n"), never as an end;
///  - NUL and 8-bit bytes pass through.
/// The output never contains a bare CR or a bare LF and never the end marker.
///
/// Once a bare CR or LF has been flagged under the reject policy the message
/// will be refused, so the decoder stops appending (and counting) output and
/// only looks for the end of data: a refused message costs no spool.
class data_decoder {
public:
    data_decoder(bare_lf_policy lf = bare_lf_policy::normalize,
                 bare_cr_policy cr = bare_cr_policy::reject)
        : lf_(lf), cr_(cr) {}

    struct result {
        std::size_t consumed = 0;  ///< bytes of the input used; all of it unless done
        bool done = false;         ///< the end marker was consumed, and nothing after it
    };

    /// Consumes `in` up to and including the end marker, or all of it when the
    /// marker is not complete in it, and appends the message bytes decoded
    /// from it to `out` (never the end marker). A byte that may begin the end
    /// marker (a "." at the start of a line, a CR) is held in the decoder's
    /// state, not in `out`, until the next byte decides. Once done, consumes
    /// nothing more. O(size of `in`).
    result decode(std::span<const char> in, std::string& out);

    /// @return the end marker has been consumed.
    bool is_done() const { return state_ == state::done; }
    /// @return a bare CR was seen and the policy is bare_cr_policy::reject.
    bool rejected_bare_cr() const { return rejected_cr_; }
    /// @return a bare LF was seen and the policy is bare_lf_policy::reject.
    bool rejected_bare_lf() const { return rejected_lf_; }
    /// @return the number of bytes appended to the output so far.
    std::uint64_t message_size() const { return size_; }

private:
    enum class state : std::uint8_t {
        line_start,       ///< after a real CRLF or at the start: a "." may begin the end marker
        line_start_bare,  ///< after a bare CR or LF: a "." here is unstuffed, never an end
        text,             ///< inside a line
        text_cr,          ///< inside a line (or at its start), after a CR held back
        dot,              ///< after a "." at line_start, held back
        dot_bare,         ///< after a "." at line_start_bare, held back
        dot_cr,           ///< after line_start "." CR: an LF now ends the data
        dot_bare_cr,      ///< after line_start_bare "." CR
        done,
    };

    bool is_rejected() const { return rejected_cr_ || rejected_lf_; }
    void emit(std::string& out, const char* p, std::size_t n);
    /// A CR was not followed by LF: CRLF, or a rejection.
    void on_bare_cr(std::string& out);
    /// An LF was not preceded by CR: CRLF, or a rejection.
    void on_bare_lf(std::string& out);

    bare_lf_policy lf_;
    bare_cr_policy cr_;
    state state_ = state::line_start;
    bool rejected_cr_ = false;
    bool rejected_lf_ = false;
    std::uint64_t size_ = 0;
};

/// Encodes message bytes for a relay's DATA: doubles a "." at the start of
/// every line (RFC 5321 section 4.5.2) and ends the data with "." CRLF.
///
/// The input is meant to be CRLF text as data_decoder writes it. A bare CR or
/// bare LF that still gets in (a BDAT or BURL body is not normalized) is sent
/// as CRLF, so the relay never sees one and no line can pass for an end
/// marker at a lenient relay.
class dot_stuffer {
public:
    /// Appends the wire form of `in` to `out`. A trailing CR is held back
    /// until the next call or finish() shows whether an LF follows.
    void encode(std::span<const char> in, std::string& out);

    /// Appends CRLF unless the data so far was empty or ended with a line
    /// end, then the end marker ".\r\n". The stuffer starts afresh afterwards.
    void finish(std::string& out);

private:
    bool line_start_ = true;  ///< the next byte starts a line
    bool pending_cr_ = false;
};

}  // namespace submitd::smtp
