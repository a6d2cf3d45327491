// libFuzzer target for smtp/line_reader and parse_command(): the input is a
// client's byte stream. For several line limits it is fed whole, split in two
// at an offset taken from the data, in chunks whose sizes come from the data,
// and one byte at a time; every way must yield the same events as a simple
// reference model (split at LF, drop one CR, compare with the limit). Every
// complete line then goes through parse_command(), whose result must obey
// its contract. Any difference or broken invariant traps.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/line_reader.hpp"

namespace {

using submitd::smtp::command_status;
using submitd::smtp::line_reader;
using submitd::smtp::line_status;

void check(bool ok) {
    if (!ok) __builtin_trap();
}

bool is_space(char c) {
    return c == ' ' || c == '\t';
}

/// What a line reader reports: a complete line or line_too_long.
struct event {
    bool too_long = false;
    std::string line;
    bool operator==(const event&) const = default;
};
using events = std::vector<event>;

void check_command(std::string_view line) {
    const auto parsed = submitd::smtp::parse_command(line);
    const bool has_nul_or_cr = line.find_first_of(std::string_view("\0\r", 2)) != line.npos;
    switch (parsed.status) {
        case command_status::ok: {
            check(!has_nul_or_cr);
            const auto& verb = parsed.cmd.verb;
            check(!verb.empty() && verb.size() <= 16);
            for (const char c : verb)
                check(c >= 'A' && c <= 'Z');
            const auto args = parsed.cmd.args;
            if (!args.empty()) {
                check(args.data() >= line.data() &&
                      args.data() + args.size() <= line.data() + line.size());
                check(!is_space(args.front()) && !is_space(args.back()));
            }
            break;
        }
        case command_status::empty:
            check(!has_nul_or_cr && parsed.cmd.verb.empty() && parsed.cmd.args.empty());
            for (const char c : line)
                check(is_space(c));
            break;
        case command_status::bad_syntax:
            check(parsed.cmd.verb.empty());
            break;
    }
}

/// The events the contract promises, computed without a line_reader.
events reference(std::string_view in, std::size_t max_line) {
    events out;
    for (;;) {
        const std::size_t lf = in.find('\n');
        if (lf == in.npos) break;
        std::string_view line = in.substr(0, lf);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        out.push_back(line.size() > max_line ? event{true, {}} : event{false, std::string(line)});
        in.remove_prefix(lf + 1);
    }
    // A partial line is reported once it is sure to pass the limit: a final
    // CR may still be the CR of CR LF.
    const std::size_t sure = in.size() - (!in.empty() && in.back() == '\r' ? 1 : 0);
    if (sure > max_line) out.push_back({true, {}});
    return out;
}

/// Feeds `in` cut at `cuts` (increasing offsets) to a fresh reader. Each
/// piece is copied to a buffer of its exact size, so ASan sees over-reads.
events feed(std::string_view in, std::size_t max_line, const std::vector<std::size_t>& cuts) {
    line_reader reader(max_line);
    events out;
    std::vector<char> piece;
    std::size_t begin = 0;
    for (std::size_t i = 0; i <= cuts.size(); ++i) {
        const std::size_t end = i < cuts.size() ? cuts[i] : in.size();
        if (piece.size() != end - begin) piece = std::vector<char>(end - begin);
        std::copy(in.begin() + begin, in.begin() + end, piece.begin());
        std::span<const char> rest(piece.data(), piece.size());
        for (;;) {
            const auto r = reader.parse(rest);
            check(r.consumed <= rest.size());
            check(reader.buffered() <= max_line + 1);
            if (r.status == line_status::need_more) {
                check(r.consumed == rest.size());
                break;
            }
            check(r.consumed > 0);
            if (r.status == line_status::complete) {
                const auto line = reader.line();
                check(line.size() <= max_line && line.find('\n') == line.npos);
                check_command(line);
                out.push_back({false, std::string(line)});
            } else {
                out.push_back({true, {}});
            }
            rest = rest.subspan(r.consumed);
        }
        begin = end;
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    check_command(in);

    const std::size_t split = size == 0 ? 0 : (data[0] * 257u + data[size - 1]) % (size + 1);
    std::vector<std::size_t> chunks;  // sizes 1..8 taken from the data itself
    for (std::size_t at = 0, i = 0; size > 0;) {
        at += 1 + static_cast<unsigned char>(in[i++ % size]) % 8;
        if (at >= size) break;
        chunks.push_back(at);
    }
    std::vector<std::size_t> bytes;
    for (std::size_t i = 1; i < size; ++i)
        bytes.push_back(i);

    for (const std::size_t max_line :
         {std::size_t{0}, std::size_t{5}, std::size_t{64}, std::size_t{1000}}) {
        const events want = reference(in, max_line);
        check(feed(in, max_line, {}) == want);
        check(feed(in, max_line, {split}) == want);
        check(feed(in, max_line, chunks) == want);
        check(feed(in, max_line, bytes) == want);
    }
    return 0;
}
