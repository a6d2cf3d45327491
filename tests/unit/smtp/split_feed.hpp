// Feeds one input to a sans-I/O parser in every way the network may deliver
// it: whole, split in two at every byte offset, and one byte at a time
// (Beast's parsegrind in test/beast/http/basic_parser.cpp, Dovecot's trickle
// stream), and checks that every way yields the same events (STYLE.md §10).
//
// A test supplies a `run` callable that builds a fresh parser, feeds it the
// pieces in order and returns what it observed, as a value comparable with
// == and printable by GoogleTest. drive() does the feeding the way a session
// driver does: it keeps the bytes a parser did not consume and offers them
// again with the next piece.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace submitd::test {

/// The bytes of `s` as a span, as parsers take them.
inline std::span<const char> bytes(std::string_view s) {
    return {s.data(), s.size()};
}

/// `s` printable for a test message: \r, \n, \t, \\ and \" escaped, other
/// control and 8-bit bytes as \xNN.
inline std::string escape(std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '\r') {
            out += "\\r";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (u < 0x20 || u >= 0x7f) {
            out += "\\x";
            out += hex[u >> 4];
            out += hex[u & 0xf];
        } else {
            out += c;
        }
    }
    return out;
}

/// The pieces one input arrives in, in order.
using pieces = std::vector<std::string_view>;

/// One way of splitting an input, with a label for failure messages.
struct split {
    std::string label;
    pieces parts;
};

/// Every split expect_same_for_all_splits() tries, the whole input first.
inline std::vector<split> all_splits(std::string_view input) {
    std::vector<split> out;
    out.push_back({"whole", {input}});
    for (std::size_t i = 0; i <= input.size(); ++i) {
        out.push_back({"split at " + std::to_string(i), {input.substr(0, i), input.substr(i)}});
    }
    split bytes{"one byte at a time", {}};
    for (std::size_t i = 0; i < input.size(); ++i)
        bytes.parts.push_back(input.substr(i, 1));
    out.push_back(std::move(bytes));
    return out;
}

/// What a parser step reports to drive().
struct progress {
    std::size_t consumed = 0;  ///< bytes of the offered span the parser used
    bool again = false;        ///< call again with the rest (false: wait for more input)
};

/// A parser may report an event without consuming a byte, but not forever.
inline constexpr int max_stalled_calls = 8;

/// Feeds `parts` as a session driver would: each piece is appended to the
/// unconsumed bytes, and `step` is called on them until it asks for more
/// input. Each call sees an exactly sized copy, so AddressSanitizer catches a
/// parser that reads past what it was given.
/// @param step callable `progress(std::span<const char>)`.
template <class Step>
void drive(const pieces& parts, Step&& step) {
    std::string pending;
    for (const auto piece : parts) {
        pending.append(piece);
        int stalled = 0;  // calls in a row that consumed nothing
        for (;;) {
            const std::vector<char> exact(pending.begin(), pending.end());
            const progress p = step(std::span<const char>(exact.data(), exact.size()));
            if (p.consumed > exact.size()) {
                ADD_FAILURE() << "parser consumed " << p.consumed << " of " << exact.size()
                              << " bytes";
                return;
            }
            pending.erase(0, p.consumed);
            if (!p.again) break;
            stalled = p.consumed == 0 ? stalled + 1 : 0;
            if (stalled > max_stalled_calls) {
                ADD_FAILURE() << "parser asks to be called again but consumes nothing";
                return;
            }
        }
    }
}

/// Checks that `run` returns `want` for every split of `input`; reports the
/// first split that differs.
/// @param run callable `Events(const pieces&)` that starts from a fresh parser.
template <class Events, class Run>
void expect_same_for_all_splits(std::string_view input, const Events& want, Run&& run) {
    for (const auto& s : all_splits(input)) {
        const Events got = run(s.parts);
        if (!(got == want)) {
            ADD_FAILURE() << s.label << ": got " << ::testing::PrintToString(got) << ", want "
                          << ::testing::PrintToString(want);
            return;
        }
    }
}

}  // namespace submitd::test
