// The DATA body codec; see data_codec.hpp.
//
// RFC 5321 section 4.1.1.4: "The mail data are terminated by a line
// containing only a period, that is, the character sequence "<CRLF>.<CRLF>"",
// and section 4.5.2: "When a line of mail text is received by the SMTP
// server, it checks the line. If the line is composed of a single period, it
// is treated as the end of mail indicator. If the first character is a
// period and there are other characters on the line, the first character is
// deleted." Section 2.3.8 allows no other line end.
//
// Attackers exploit servers that take "\n.\n" or "\r.\r" (or a mix with one
// real CRLF) as the end while the next hop does not, or the reverse: the rest
// of the body then runs as a second, forged transaction (SMTP smuggling,
// CVE-2023-51764/51765/51766). Here only a real CRLF "." CRLF ends the data,
// and whatever bare line end we let through becomes CRLF, so the relay sees
// one line "." where the client's other reading would be, and no ambiguity.
//
// The state machine holds back at most a "." and a CR between calls and
// writes runs of ordinary bytes in bulk, so it is O(n) whatever the split.
// Ordinary lines (CRLF-ended, not starting with ".") pass through unchanged,
// so a run of them is copied in one piece: most messages are one run per read.
#include "smtp/data_codec.hpp"

#include <algorithm>
#include <cstring>

namespace submitd::smtp {
namespace {

constexpr char cr = '\r';
constexpr char lf = '\n';
constexpr char dot = '.';

/// Finds line-end bytes with memchr, remembering the next CR and the next LF
/// it found so that no byte is scanned twice (queries only move forward).
class line_end_scanner {
public:
    explicit line_end_scanner(const char* end) : end_(end) {}

    /// The first CR or LF at or after `p` (`end` when none).
    const char* next(const char* p) {
        if (next_cr_ < p) next_cr_ = find(p, cr);
        if (next_lf_ < p) next_lf_ = find(p, lf);
        return std::min(next_cr_, next_lf_);
    }

private:
    const char* find(const char* p, char c) const {
        const void* hit = std::memchr(p, c, static_cast<std::size_t>(end_ - p));
        return hit != nullptr ? static_cast<const char*>(hit) : end_;
    }

    const char* end_;
    const char* next_cr_ = nullptr;
    const char* next_lf_ = nullptr;
};

/// From `p`, inside a line's text: the end of the run of whole ordinary lines
/// (each ended by CRLF and followed by a line that does not start with ".")
/// and the line text after them. The run stops at the first CR or LF that is
/// not such a line end, or just after a CRLF followed by "." or by the end
/// of the input; `at_line_start` then says it stopped after a CRLF.
const char* ordinary_run(line_end_scanner& scan, const char* p, const char* end,
                         bool& at_line_start) {
    at_line_start = false;
    for (;;) {
        const char* stop = scan.next(p);
        if (stop == end || *stop != cr || stop + 1 == end || stop[1] != lf) return stop;
        p = stop + 2;
        if (p == end || *p == dot) {
            at_line_start = true;
            return p;
        }
    }
}

}  // namespace

void data_decoder::emit(std::string& out, const char* p, std::size_t n) {
    if (is_rejected() || n == 0) return;
    out.append(p, n);
    size_ += n;
}

void data_decoder::on_bare_cr(std::string& out) {
    if (cr_ == bare_cr_policy::reject) {
        rejected_cr_ = true;
        return;
    }
    emit(out, "\r\n", 2);
}

void data_decoder::on_bare_lf(std::string& out) {
    if (lf_ == bare_lf_policy::reject) {
        rejected_lf_ = true;
        return;
    }
    emit(out, "\r\n", 2);
}

data_decoder::result data_decoder::decode(std::span<const char> in, std::string& out) {
    if (state_ == state::done) return {0, true};

    const char* const begin = in.data();
    const char* const end = begin + in.size();
    const char* p = begin;
    line_end_scanner scan(end);
    // Each step consumes a byte or moves to a state that will; no state
    // returns to itself without consuming, so the loop is linear.
    while (p < end) {
        switch (state_) {
            case state::line_start:
            case state::line_start_bare:
                if (*p == dot) {
                    state_ = state_ == state::line_start ? state::dot : state::dot_bare;
                    ++p;
                } else {
                    state_ = state::text;
                }
                break;

            case state::text: {
                bool at_line_start = false;
                const char* const stop = ordinary_run(scan, p, end, at_line_start);
                emit(out, p, static_cast<std::size_t>(stop - p));
                p = stop;
                if (at_line_start) {
                    state_ = state::line_start;
                    break;
                }
                if (p == end) break;
                if (*p == cr) {
                    state_ = state::text_cr;
                } else {
                    on_bare_lf(out);
                    state_ = state::line_start_bare;
                }
                ++p;
                break;
            }

            case state::text_cr:
                if (*p == lf) {
                    emit(out, "\r\n", 2);
                    state_ = state::line_start;
                    ++p;
                } else {
                    on_bare_cr(out);  // *p starts the next line
                    state_ = state::line_start_bare;
                }
                break;

            case state::dot:
            case state::dot_bare:
                if (*p == cr) {
                    state_ = state_ == state::dot ? state::dot_cr : state::dot_bare_cr;
                    ++p;
                } else if (*p == lf) {
                    // A line "." ended by a bare LF ("\r\n.\n", "\n.\n"): content,
                    // kept as "." so that it can never be read as an end.
                    emit(out, ".", 1);
                    on_bare_lf(out);
                    state_ = state::line_start_bare;
                    ++p;
                } else {
                    state_ = state::text;  // a stuffed dot: drop it, *p is text
                }
                break;

            case state::dot_cr:
            case state::dot_bare_cr:
                if (*p == lf && state_ == state::dot_cr) {
                    state_ = state::done;
                    ++p;
                    return {static_cast<std::size_t>(p - begin), true};
                }
                emit(out, ".", 1);
                if (*p == lf) {  // "\n.\r\n", "\r.\r\n": content, the CRLF is real
                    emit(out, "\r\n", 2);
                    state_ = state::line_start;
                    ++p;
                } else {  // "\r\n.\r", "\n.\r": a bare CR; *p starts the next line
                    on_bare_cr(out);
                    state_ = state::line_start_bare;
                }
                break;

            case state::done:
                return {static_cast<std::size_t>(p - begin), true};
        }
    }
    return {in.size(), false};
}

void dot_stuffer::encode(std::span<const char> in, std::string& out) {
    const char* p = in.data();
    const char* const end = p + in.size();
    line_end_scanner scan(end);
    while (p < end) {
        if (pending_cr_) {
            pending_cr_ = false;
            out += "\r\n";  // with its LF, or for a bare CR
            line_start_ = true;
            if (*p == lf) {
                ++p;
                continue;
            }
        }
        if (line_start_) {
            if (*p == dot) out += dot;  // RFC 5321 section 4.5.2
            line_start_ = false;
        }
        bool at_line_start = false;
        const char* const stop = ordinary_run(scan, p, end, at_line_start);
        out.append(p, stop);
        p = stop;
        if (at_line_start) {
            line_start_ = true;
            continue;
        }
        if (p == end) break;
        if (*p == cr) {
            pending_cr_ = true;
        } else {
            out += "\r\n";  // a bare LF
            line_start_ = true;
        }
        ++p;
    }
}

void dot_stuffer::finish(std::string& out) {
    if (pending_cr_ || !line_start_) out += "\r\n";
    out += ".\r\n";
    line_start_ = true;
    pending_cr_ = false;
}

}  // namespace submitd::smtp
