// libFuzzer target for smtp/data_codec: the input is what a client sends
// after DATA's 354. Under each of the four bare CR / bare LF policy pairs it
// is decoded whole, split in two at an offset taken from the data, in chunks
// whose sizes come from the data, and one byte at a time; every way must give
// the same output, end and flags as a line-by-line reference model, and the
// output must hold no bare CR or bare LF. The output, dot-stuffed again, must
// decode to the same bytes and end exactly at the stuffer's end marker (no
// smuggled second message). The raw input also goes through the stuffer
// (a BDAT body is not normalized) and must come back CRLF-normalized. Any
// difference or broken invariant traps.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/data_codec.hpp"

namespace {

using submitd::smtp::bare_cr_policy;
using submitd::smtp::bare_lf_policy;
using submitd::smtp::data_decoder;
using submitd::smtp::dot_stuffer;

void check(bool ok) {
    if (!ok) __builtin_trap();
}

struct policies {
    bare_lf_policy lf;
    bare_cr_policy cr;
};

struct decoded {
    std::string out;
    bool done = false;
    std::size_t consumed = 0;
    bool rejected_cr = false;
    bool rejected_lf = false;
    bool operator==(const decoded&) const = default;
};

bool has_bare_cr_or_lf(std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n')) return true;
        if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return true;
    }
    return false;
}

/// What the decoder must report, computed from whole lines: a line ends at
/// CRLF, bare LF or bare CR; only a "." line between two CRLF (or CRLF at the
/// start) ends the data; other lines lose a leading dot unless they are just
/// "."; after a rejected line end nothing more is written.
decoded reference(std::string_view in, policies p) {
    decoded r;
    bool after_crlf = true;
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
        enum { crlf, bare_lf, bare_cr, none } end = none;
        std::size_t next = i;
        if (i < in.size() && in[i] == '\n') {
            end = bare_lf;
            next = i + 1;
        } else if (i + 1 < in.size() && in[i] == '\r') {
            end = in[i + 1] == '\n' ? crlf : bare_cr;
            next = in[i + 1] == '\n' ? i + 2 : i + 1;
        }
        if (end == none) {
            if (text != "." && !text.empty()) emit(text[0] == '.' ? text.substr(1) : text);
            r.consumed = in.size();
            return r;
        }
        if (after_crlf && text == "." && end == crlf) {
            r.done = true;
            r.consumed = next;
            return r;
        }
        emit(text.size() > 1 && text[0] == '.' ? text.substr(1) : text);
        if (end == bare_cr && p.cr == bare_cr_policy::reject) {
            r.rejected_cr = rejected = true;
        } else if (end == bare_lf && p.lf == bare_lf_policy::reject) {
            r.rejected_lf = rejected = true;
        }
        emit("\r\n");
        after_crlf = end == crlf;
        pos = next;
    }
}

/// Feeds `in` cut at `cuts` (increasing offsets) as a driver would, each
/// piece in a buffer of its exact size so that ASan sees over-reads.
decoded feed(std::string_view in, policies p, const std::vector<std::size_t>& cuts) {
    data_decoder d(p.lf, p.cr);
    decoded r;
    std::vector<char> piece;  // reallocated only when the size changes
    std::size_t begin = 0;
    for (std::size_t i = 0; i <= cuts.size() && !r.done; ++i) {
        const std::size_t end = i < cuts.size() ? cuts[i] : in.size();
        if (piece.size() != end - begin) piece = std::vector<char>(end - begin);
        std::copy(in.begin() + begin, in.begin() + end, piece.begin());
        const auto res = d.decode(std::span<const char>(piece.data(), piece.size()), r.out);
        check(res.consumed <= piece.size());
        check(res.done || res.consumed == piece.size());
        r.consumed += res.consumed;
        r.done = res.done;
        begin = end;
    }
    if (r.done) {  // a done decoder takes nothing more
        std::string more;
        check(d.decode(std::span<const char>(in.data(), in.size()), more).consumed == 0);
        check(more.empty());
    }
    check(d.is_done() == r.done);
    check(d.message_size() == r.out.size());
    r.rejected_cr = d.rejected_bare_cr();
    r.rejected_lf = d.rejected_bare_lf();
    return r;
}

/// Stuffs `in` cut at `cuts` (increasing; those past its end are ignored).
std::string stuff(std::string_view in, const std::vector<std::size_t>& cuts) {
    dot_stuffer s;
    std::string out;
    std::vector<char> piece;
    std::size_t begin = 0;
    for (std::size_t i = 0; i <= cuts.size(); ++i) {
        const std::size_t end = i < cuts.size() ? std::min(cuts[i], in.size()) : in.size();
        if (piece.size() != end - begin) piece = std::vector<char>(end - begin);
        std::copy(in.begin() + begin, in.begin() + end, piece.begin());
        s.encode(std::span<const char>(piece.data(), piece.size()), out);
        begin = end;
    }
    s.finish(out);
    return out;
}

/// `in` with every bare CR and bare LF made CRLF, and a final CRLF added
/// when it is missing: what a relay must receive for it.
std::string normalized(std::string_view in) {
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '\r' || in[i] == '\n') {
            out += "\r\n";
            if (in[i] == '\r' && i + 1 < in.size() && in[i + 1] == '\n') ++i;
        } else {
            out += in[i];
        }
    }
    if (!out.empty() && !out.ends_with("\r\n")) out += "\r\n";
    return out;
}

constexpr policies all_policies[] = {
    {bare_lf_policy::normalize, bare_cr_policy::reject},
    {bare_lf_policy::normalize, bare_cr_policy::normalize},
    {bare_lf_policy::reject, bare_cr_policy::reject},
    {bare_lf_policy::reject, bare_cr_policy::normalize},
};

/// The wire form of `message` decodes back to it, ending exactly at the end.
void check_round_trip(std::string_view message, const std::vector<std::size_t>& cuts) {
    const std::string wire = stuff(message, {});
    check(stuff(message, cuts) == wire);
    check(!has_bare_cr_or_lf(wire));
    const std::string want = normalized(message);
    for (const auto& p : all_policies) {
        const decoded got = feed(wire, p, {});
        check(got.done && got.consumed == wire.size());
        check(!got.rejected_cr && !got.rejected_lf);
        check(got.out == want);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);

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

    for (const auto& p : all_policies) {
        const decoded want = reference(in, p);
        check(feed(in, p, {}) == want);
        check(feed(in, p, {split}) == want);
        check(feed(in, p, chunks) == want);
        check(feed(in, p, bytes) == want);

        check(!has_bare_cr_or_lf(want.out));
        if (want.done) {
            check(want.consumed >= 3 && in.substr(want.consumed - 3, 3) == ".\r\n");
            check(want.consumed == 3 || in.substr(want.consumed - 5, 2) == "\r\n");
        }
        check_round_trip(want.out, chunks);
    }
    // The stuffer on unnormalized bytes (a BDAT body): CRLF out, same lines.
    check_round_trip(in, chunks);
    return 0;
}
