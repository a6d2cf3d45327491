// Tests for smtp/data_codec: the DATA decoder table (unstuffing, line-end
// policies, every smuggling sequence we know of, the end marker and what
// follows it) fed in every split (split_feed.hpp); the decoder against a
// line-by-line reference model on seeded random inputs; the dot stuffer; and
// the round trip decoder -> stuffer -> decoder.
#include "smtp/data_codec.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "split_feed.hpp"

namespace submitd::smtp {
namespace {

using test::bytes;
using test::escape;

using namespace std::string_literals;

/// @return `s` has a CR not followed by LF or an LF not preceded by CR.
bool has_bare_cr_or_lf(std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n')) return true;
        if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return true;
    }
    return false;
}

/// Everything a decoder reports for one input.
struct decoded {
    std::string out;
    bool done = false;
    std::size_t consumed = 0;
    bool rejected_cr = false;
    bool rejected_lf = false;

    bool operator==(const decoded&) const = default;
    friend std::ostream& operator<<(std::ostream& os, const decoded& d) {
        return os << "{out \"" << escape(d.out) << "\", " << (d.done ? "done" : "not done")
                  << ", consumed " << d.consumed << (d.rejected_cr ? ", rejected CR" : "")
                  << (d.rejected_lf ? ", rejected LF" : "") << '}';
    }
};

struct policies {
    bare_lf_policy lf;
    bare_cr_policy cr;
};
constexpr policies dflt{bare_lf_policy::normalize, bare_cr_policy::reject};
constexpr policies lenient{bare_lf_policy::normalize, bare_cr_policy::normalize};
constexpr policies strict{bare_lf_policy::reject, bare_cr_policy::reject};
constexpr policies lf_strict{bare_lf_policy::reject, bare_cr_policy::normalize};
constexpr policies all_policies[] = {dflt, lenient, strict, lf_strict};

/// A run for expect_same_for_all_splits(): a fresh decoder fed like a driver.
auto run_decoder(policies p) {
    return [p](const test::pieces& parts) {
        data_decoder d(p.lf, p.cr);
        decoded r;
        test::drive(parts, [&](std::span<const char> in) {
            const auto res = d.decode(in, r.out);
            EXPECT_TRUE(res.done || res.consumed == in.size());
            r.consumed += res.consumed;
            r.done = res.done;
            return test::progress{res.consumed, false};
        });
        EXPECT_EQ(d.message_size(), r.out.size());
        EXPECT_EQ(d.is_done(), r.done);
        r.rejected_cr = d.rejected_bare_cr();
        r.rejected_lf = d.rejected_bare_lf();
        return r;
    };
}

decoded decode_whole(std::string_view in, policies p) {
    return run_decoder(p)({in});
}

enum flags { none = 0, rej_cr = 1, rej_lf = 2 };

struct decode_case {
    const char* name;
    policies p;
    std::string input;
    std::string want;       ///< decoded bytes
    bool done;              ///< the end marker was found
    std::string rest = "";  ///< the input after the end marker, not consumed
    int flags = none;
};

// After a rejection the decoder appends nothing more: `want` is what came
// before the offending byte.
const std::vector<decode_case> decode_cases = {
    // The end marker and plain messages.
    {"nothing yet", dflt, "", "", false},
    {"empty message", dflt, ".\r\n", "", true},
    {"one empty line", dflt, "\r\n.\r\n", "\r\n", true},
    {"headers and body", dflt, "Subject: x\r\n\r\nbody\r\n.\r\n", "Subject: x\r\n\r\nbody\r\n",
     true},
    {"commands after the end are not consumed", dflt, "a\r\n.\r\nMAIL FROM:<b@c>\r\n", "a\r\n",
     true, "MAIL FROM:<b@c>\r\n"},
    {"second end marker is not consumed", dflt, ".\r\n.\r\n", "", true, ".\r\n"},
    {"pipelined QUIT after an empty message", dflt, ".\r\nQUIT\r\n", "", true, "QUIT\r\n"},
    {"partial: a held dot", dflt, "a\r\n.", "a\r\n", false},
    {"partial: a held dot and CR", dflt, "a\r\n.\r", "a\r\n", false},
    {"partial: a held CR", dflt, "a\r", "a", false},
    {"partial: no line end", dflt, "abc", "abc", false},
    {"dot inside a line", dflt, "a.b.\r\n.\r\n", "a.b.\r\n", true},
    {"8-bit bytes", dflt, "\xc3\xa9\xff\r\n.\r\n", "\xc3\xa9\xff\r\n", true},
    {"long line", dflt, std::string(5000, 'x') + "\r\n.\r\n", std::string(5000, 'x') + "\r\n",
     true},
    {"many lines", dflt, "1\r\n2\r\n3\r\n4\r\n.\r\n", "1\r\n2\r\n3\r\n4\r\n", true},

    // Dot-unstuffing (RFC 5321 section 4.5.2).
    {"stuffed dot line", dflt, "..\r\n.\r\n", ".\r\n", true},
    {"stuffed first line", dflt, ".abc\r\n.\r\n", "abc\r\n", true},
    {"stuffed later line", dflt, "a\r\n.b\r\n.\r\n", "a\r\nb\r\n", true},
    {"three dots", dflt, "...\r\n.\r\n", "..\r\n", true},
    {"dot space", dflt, ". \r\n.\r\n", " \r\n", true},
    {"only the first dot of a line", dflt, "..a..\r\n.\r\n", ".a..\r\n", true},
    {"empty line then a stuffed one", dflt, "\r\n..\r\n.\r\n", "\r\n.\r\n", true},
    {"stuffed line after a bare LF", dflt, "a\n.b\r\n.\r\n", "a\r\nb\r\n", true},

    // NUL bytes are content.
    {"NULs", dflt, "a\0b\r\n\0\r\n.\r\n"s, "a\0b\r\n\0\r\n"s, true},
    {"dot NUL is not the end", dflt, "a\r\n.\0\r\n.\r\n"s, "a\r\n\0\r\n"s, true},
    {"NUL dot is not the end", dflt, "a\r\n\0.\r\n.\r\n"s, "a\r\n\0.\r\n"s, true},
    {"dot NUL CR LF at the start", dflt, ".\0\r\n.\r\n"s, "\0\r\n"s, true},

    // Smuggling with bare LF, normalized (the default).
    {"LF dot LF", dflt, "a\n.\nb\r\n.\r\n", "a\r\n.\r\nb\r\n", true},
    {"CRLF dot LF", dflt, "a\r\n.\nb\r\n.\r\n", "a\r\n.\r\nb\r\n", true},
    {"LF dot CRLF", dflt, "a\n.\r\nb\r\n.\r\n", "a\r\n.\r\nb\r\n", true},
    {"LF dot LF without an end", dflt, "a\n.\n", "a\r\n.\r\n", false},
    {"dot LF at the start", dflt, ".\n.\r\n", ".\r\n.\r\n", false},
    {"dot LF at the start, then the end", dflt, ".\n\r\n.\r\n", ".\r\n\r\n", true},
    {"stuffed dot LF", dflt, "..\n.\r\n", ".\r\n.\r\n", false},
    {"LF dot CRLF at the start", dflt, "\n.\r\n.\r\n", "\r\n.\r\n", true},
    {"LF LF dot CRLF", dflt, "\n\n.\r\n", "\r\n\r\n.\r\n", false},
    {"bare LF then a real end", dflt, "a\n\r\n.\r\n", "a\r\n\r\n", true},
    {"a whole second transaction", dflt,
     "a\r\n.\nMAIL FROM:<x@evil>\r\nRCPT TO:<v@x>\r\nDATA\r\nforged\r\n.\r\nQUIT\r\n",
     "a\r\n.\r\nMAIL FROM:<x@evil>\r\nRCPT TO:<v@x>\r\nDATA\r\nforged\r\n", true, "QUIT\r\n"},
    {"LF dot LF with NUL", dflt, "a\n.\0\n.\r\n"s, "a\r\n\0\r\n.\r\n"s, false},

    // Bare CR, rejected (the default): the flag is set, the end still found.
    {"CR dot CR", dflt, "a\r.\rb\r\n.\r\n", "a", true, "", rej_cr},
    {"CRLF dot CR", dflt, "a\r\n.\rb\r\n.\r\n", "a\r\n.", true, "", rej_cr},
    {"CR dot CRLF", dflt, "a\r.\r\nb\r\n.\r\n", "a", true, "", rej_cr},
    {"CR CR LF", dflt, "a\r\r\n.\r\n", "a", true, "", rej_cr},
    {"bare CR then a command", dflt, "a\rb\r\n.\r\nQUIT\r\n", "a", true, "QUIT\r\n", rej_cr},
    {"bare CR, no end yet", dflt, "a\r.\r", "a", false, "", rej_cr},
    {"bare CR then bare LF", dflt, "a\rb\nc\r\n.\r\n", "a", true, "", rej_cr},

    // Bare CR, normalized.
    {"CR dot CR, normalized", lenient, "a\r.\rb\r\n.\r\n", "a\r\n.\r\nb\r\n", true},
    {"CRLF dot CR, normalized", lenient, "a\r\n.\rb\r\n.\r\n", "a\r\n.\r\nb\r\n", true},
    {"CR dot CRLF, normalized", lenient, "a\r.\r\nb\r\n.\r\n", "a\r\n.\r\nb\r\n", true},
    {"CR CR LF, normalized", lenient, "a\r\r\n.\r\n", "a\r\n\r\n", true},
    {"dot CR CR LF, normalized", lenient, "a\r\n.\r\r\n.\r\n", "a\r\n.\r\n\r\n", true},
    {"dot CR at the start, normalized", lenient, ".\r.\r\n", ".\r\n.\r\n", false},
    {"CR dot CR without an end, normalized", lenient, "a\r.\r", "a\r\n", false},
    {"CRLF dot CR NUL, normalized", lenient, "a\r\n.\r\0\r\n.\r\n"s, "a\r\n.\r\n\0\r\n"s, true},
    {"mixed, normalized", lenient, "a\n.\rb\r.\nc\r\n.\r\n", "a\r\n.\r\nb\r\n.\r\nc\r\n", true},

    // Bare LF rejected.
    {"LF dot LF, rejected", strict, "a\n.\nb\r\n.\r\n", "a", true, "", rej_lf},
    {"CRLF dot LF, rejected", strict, "a\r\n.\nb\r\n.\r\n", "a\r\n.", true, "", rej_lf},
    {"LF dot CRLF, rejected", strict, "a\n.\r\nb\r\n.\r\n", "a", true, "", rej_lf},
    {"both rejected", strict, "a\rb\nc\r\n.\r\n", "a", true, "", rej_cr | rej_lf},
    {"both rejected, LF first", strict, "a\nb\rc\r\n.\r\n", "a", true, "", rej_cr | rej_lf},
    {"LF rejected, CR normalized", lf_strict, "a\r.\rb\nc\r\n.\r\nX", "a\r\n.\r\nb", true, "X",
     rej_lf},
    {"clean message, strict", strict, "a\r\n..\r\n.\r\n", "a\r\n.\r\n", true},
};

TEST(data_decoder, same_result_for_every_split) {
    for (const auto& c : decode_cases) {
        SCOPED_TRACE(c.name);
        const decoded want{c.want, c.done, c.input.size() - c.rest.size(), (c.flags & rej_cr) != 0,
                           (c.flags & rej_lf) != 0};
        ASSERT_TRUE(c.input.ends_with(c.rest));
        test::expect_same_for_all_splits(c.input, want, run_decoder(c.p));
    }
}

TEST(data_decoder, output_never_has_a_bare_line_end) {
    for (const auto& c : decode_cases) {
        for (const auto& p : all_policies) {
            SCOPED_TRACE(c.name);
            EXPECT_FALSE(has_bare_cr_or_lf(decode_whole(c.input, p).out));
        }
    }
}

TEST(data_decoder, consumes_nothing_once_done) {
    data_decoder d(bare_lf_policy::normalize, bare_cr_policy::reject);
    std::string out;
    const std::string in = "x\r\n.\r\nRSET\r\n";
    auto res = d.decode(bytes(in), out);
    EXPECT_TRUE(res.done);
    EXPECT_EQ(res.consumed, 6u);
    EXPECT_EQ(out, "x\r\n");
    EXPECT_EQ(d.message_size(), 3u);

    res = d.decode(bytes(in).subspan(res.consumed), out);
    EXPECT_TRUE(res.done);
    EXPECT_EQ(res.consumed, 0u);
    EXPECT_EQ(out, "x\r\n");
}

TEST(data_decoder, end_marker_split_across_calls) {
    data_decoder d;
    std::string out;
    for (const std::string_view piece : {"body\r", "\n", ".", "\r"}) {
        const auto res = d.decode(bytes(piece), out);
        EXPECT_FALSE(res.done);
        EXPECT_EQ(res.consumed, piece.size());
    }
    EXPECT_EQ(out, "body\r\n");
    const auto res = d.decode(bytes("\nNOOP\r\n"), out);
    EXPECT_TRUE(res.done);
    EXPECT_EQ(res.consumed, 1u);
    EXPECT_EQ(out, "body\r\n");
}

TEST(data_decoder, empty_calls_change_nothing) {
    data_decoder d;
    std::string out;
    EXPECT_EQ(d.decode({}, out).consumed, 0u);
    d.decode(bytes("\r\n."), out);
    EXPECT_FALSE(d.decode({}, out).done);
    EXPECT_TRUE(d.decode(bytes("\r\n"), out).done);
    EXPECT_EQ(out, "\r\n");
}

TEST(data_decoder, default_policies) {
    const decoded lf =
        decode_whole("a\nb\r\n.\r\n", {bare_lf_policy::normalize, bare_cr_policy::reject});
    data_decoder d;  // normalize LF, reject CR
    std::string out;
    EXPECT_TRUE(d.decode(bytes("a\nb\r\n.\r\n"), out).done);
    EXPECT_EQ(out, lf.out);
    data_decoder d2;
    out.clear();
    EXPECT_TRUE(d2.decode(bytes("a\rb\r\n.\r\n"), out).done);
    EXPECT_TRUE(d2.rejected_bare_cr());
}

// --- a reference model: the same rules, line by line, without streaming ---

enum class line_end { crlf, bare_lf, bare_cr, none };

/// What data_decoder should report for `in`, computed from whole lines.
decoded reference(std::string_view in, policies p) {
    decoded r;
    bool after_crlf = true;  // the body starts as if after a CRLF
    bool rejected = false;
    const auto emit = [&](std::string_view s) {
        if (!rejected) r.out.append(s);
    };
    std::size_t pos = 0;
    for (;;) {
        std::size_t i = pos;
        while (i < in.size() && in[i] != '\r' && in[i] != '\n')
            ++i;
        const std::string_view text = in.substr(pos, i - pos);
        line_end end = line_end::none;
        std::size_t next = i;
        if (i < in.size() && in[i] == '\n') {
            end = line_end::bare_lf;
            next = i + 1;
        } else if (i + 1 < in.size() && in[i] == '\r') {
            end = in[i + 1] == '\n' ? line_end::crlf : line_end::bare_cr;
            next = in[i + 1] == '\n' ? i + 2 : i + 1;
        }
        if (end == line_end::none) {
            // A partial line: a lone "." and a final CR are still held.
            if (text != "." && !text.empty()) emit(text[0] == '.' ? text.substr(1) : text);
            r.consumed = in.size();
            return r;
        }
        if (after_crlf && text == "." && end == line_end::crlf) {
            r.done = true;
            r.consumed = next;
            return r;
        }
        emit(text.size() > 1 && text[0] == '.' ? text.substr(1) : text);
        if (end == line_end::bare_cr && p.cr == bare_cr_policy::reject) {
            r.rejected_cr = rejected = true;
        } else if (end == line_end::bare_lf && p.lf == bare_lf_policy::reject) {
            r.rejected_lf = rejected = true;
        }
        emit("\r\n");
        after_crlf = end == line_end::crlf;
        pos = next;
    }
}

/// Seeded random bodies over the bytes that matter: dots, CR, LF, NUL, text.
std::vector<std::string> random_bodies(std::size_t count, std::size_t max_len) {
    static constexpr char alphabet[] = {'.', '.', '\r', '\r', '\n', '\n', '\0', 'a', 'b'};
    std::mt19937 rng(5321);
    std::uniform_int_distribution<std::size_t> len(0, max_len);
    std::uniform_int_distribution<std::size_t> pick(0, sizeof alphabet - 1);
    std::vector<std::string> out;
    for (std::size_t n = 0; n < count; ++n) {
        std::string s(len(rng), ' ');
        for (auto& c : s)
            c = alphabet[pick(rng)];
        out.push_back(std::move(s));
    }
    return out;
}

TEST(data_decoder, table_agrees_with_the_reference) {
    for (const auto& c : decode_cases) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(decode_whole(c.input, c.p), reference(c.input, c.p));
    }
}

TEST(data_decoder, random_bodies_agree_with_the_reference) {
    for (const auto& body : random_bodies(3000, 24)) {
        for (const auto& p : all_policies) {
            SCOPED_TRACE("input \"" + escape(body) + "\"");
            const decoded want = reference(body, p);
            ASSERT_FALSE(has_bare_cr_or_lf(want.out));
            test::expect_same_for_all_splits(body, want, run_decoder(p));
            if (::testing::Test::HasFailure()) return;
        }
    }
}

// --- dot_stuffer ---

std::string stuff(const test::pieces& parts) {
    dot_stuffer s;
    std::string out;
    for (const auto piece : parts)
        s.encode(bytes(piece), out);
    s.finish(out);
    return out;
}

struct stuff_case {
    std::string input;
    std::string want;
};

const std::vector<stuff_case> stuff_cases = {
    {"", ".\r\n"},
    {"a\r\n", "a\r\n.\r\n"},
    {"a", "a\r\n.\r\n"},
    {"\r\n", "\r\n.\r\n"},
    {".", "..\r\n.\r\n"},
    {".\r\n", "..\r\n.\r\n"},
    {"..\r\n", "...\r\n.\r\n"},
    {"a\r\n.b\r\n..\r\n", "a\r\n..b\r\n...\r\n.\r\n"},
    {"a.b\r\n.", "a.b\r\n..\r\n.\r\n"},
    {"\0.\r\n.\0\r\n"s, "\0.\r\n..\0\r\n.\r\n"s},
    // Bare line ends (a BDAT body) go out as CRLF, their lines stuffed.
    {"a\n.\n", "a\r\n..\r\n.\r\n"},
    {"a\r.\r", "a\r\n..\r\n.\r\n"},
    {"a\r", "a\r\n.\r\n"},
    {"\r\r\n.", "\r\n\r\n..\r\n.\r\n"},
    {"\n\r", "\r\n\r\n.\r\n"},
};

TEST(dot_stuffer, same_output_for_every_split) {
    for (const auto& c : stuff_cases) {
        SCOPED_TRACE("input \"" + escape(c.input) + "\"");
        test::expect_same_for_all_splits(c.input, c.want, stuff);
    }
}

TEST(dot_stuffer, starts_afresh_after_finish) {
    dot_stuffer s;
    std::string out;
    s.encode(bytes("a\r"), out);
    s.finish(out);
    s.encode(bytes(".b\r\n"), out);
    s.finish(out);
    EXPECT_EQ(out, "a\r\n.\r\n..b\r\n.\r\n");
}

// --- the round trip: what we decode, stuffed again, decodes to the same ---

/// Checks that `message` (decoder output) survives stuffing and decoding.
void expect_round_trip(const std::string& message) {
    SCOPED_TRACE("message \"" + escape(message) + "\"");
    // The decoder ends every line it completes with CRLF; only an unfinished
    // or rejected message can end without one, and finish() adds it.
    const bool complete = message.empty() || message.ends_with("\r\n");
    const std::string want = complete ? message : message + "\r\n";
    const std::string wire = stuff({message});
    EXPECT_FALSE(has_bare_cr_or_lf(wire));
    for (const auto& p : all_policies) {
        const decoded got = decode_whole(wire, p);
        EXPECT_EQ(got, (decoded{want, true, wire.size(), false, false}));
    }
}

TEST(round_trip, table_outputs) {
    for (const auto& c : decode_cases) {
        SCOPED_TRACE(c.name);
        for (const auto& p : all_policies)
            expect_round_trip(decode_whole(c.input, p).out);
    }
}

TEST(round_trip, random_bodies) {
    for (const auto& body : random_bodies(2000, 40)) {
        for (const auto& p : all_policies) {
            expect_round_trip(decode_whole(body, p).out);
            if (::testing::Test::HasFailure()) return;
        }
    }
}

TEST(round_trip, dot_line_after_bare_lf_reaches_the_relay_stuffed) {
    const decoded d = decode_whole("a\r\n.\nMAIL FROM:<x@evil>\r\n.\r\n", dflt);
    EXPECT_EQ(d.out, "a\r\n.\r\nMAIL FROM:<x@evil>\r\n");
    EXPECT_EQ(stuff({d.out}), "a\r\n..\r\nMAIL FROM:<x@evil>\r\n.\r\n");
}

}  // namespace
}  // namespace submitd::smtp
