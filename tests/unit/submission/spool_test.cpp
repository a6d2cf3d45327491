// Tests for submission/spool: memory up to the window, an unlinked file past
// it, byte-exact reads at any offset, clear() and reuse, a 20 MiB message,
// and the errors of a temp_dir that does not exist and of a failing write.
#include "submission/spool.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace submitd::submission {
namespace {

/// Deterministic content: byte i of a message of any length.
std::string pattern(std::size_t n, std::uint32_t seed = 1) {
    std::string s(n, '\0');
    std::uint32_t x = seed;
    for (auto& c : s) {
        x = x * 1664525u + 1013904223u;
        c = static_cast<char>(x >> 24);
    }
    return s;
}

/// Reads the whole spool back in `chunk`-sized reads.
std::string read_all(const spool& s, std::size_t chunk = 4096) {
    std::string out;
    std::vector<char> buf(chunk);
    for (;;) {
        std::size_t n = 0;
        const auto ec = s.read(out.size(), buf, n);
        EXPECT_FALSE(ec) << ec.message();
        if (ec || n == 0) return out;
        out.append(buf.data(), n);
    }
}

/// @return where /proc says the descriptor points.
std::string fd_link(int fd) {
    char target[4096];
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    const ssize_t n = ::readlink(path.c_str(), target, sizeof target);
    return n < 0 ? std::string() : std::string(target, static_cast<std::size_t>(n));
}

void expect_unlinked_file(const spool& s) {
    ASSERT_TRUE(s.has_file());
    struct stat st {};
    ASSERT_EQ(::fstat(s.file_descriptor(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_nlink, 0u) << "the spool file has a name";
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_NE(fd_link(s.file_descriptor()).find("(deleted)"), std::string::npos)
        << fd_link(s.file_descriptor());
}

std::string temp_dir() {
    return ::testing::TempDir();
}

TEST(spool, small_message_stays_in_memory) {
    spool s(64, temp_dir());
    EXPECT_EQ(s.size(), 0u);
    EXPECT_FALSE(s.append("Subject: hi\r\n"));
    EXPECT_FALSE(s.append(""));
    EXPECT_FALSE(s.append("\r\nbody\r\n"));
    EXPECT_EQ(s.size(), 21u);
    EXPECT_FALSE(s.has_file());
    EXPECT_EQ(s.file_descriptor(), -1);
    EXPECT_LE(s.memory_held(), 64u);
    EXPECT_EQ(read_all(s, 5), "Subject: hi\r\n\r\nbody\r\n");
    EXPECT_EQ(s.memory(), "Subject: hi\r\n\r\nbody\r\n");
}

TEST(spool, exactly_at_the_window_stays_in_memory) {
    const std::string data = pattern(1000);
    spool s(1000, temp_dir());
    for (std::size_t i = 0; i < data.size(); i += 7)
        ASSERT_FALSE(s.append(std::string_view(data).substr(i, 7)));
    EXPECT_EQ(s.size(), 1000u);
    EXPECT_FALSE(s.has_file());
    EXPECT_LE(s.memory_held(), 1000u);
    EXPECT_EQ(read_all(s), data);
    EXPECT_EQ(s.memory(), data);
}

TEST(spool, one_byte_over_the_window_moves_to_an_unlinked_file) {
    const std::string data = pattern(1001);
    spool s(1000, temp_dir());
    ASSERT_FALSE(s.append(std::string_view(data).substr(0, 1000)));
    ASSERT_FALSE(s.has_file());
    EXPECT_EQ(s.memory(), std::string_view(data).substr(0, 1000));
    ASSERT_FALSE(s.append(std::string_view(data).substr(1000)));
    expect_unlinked_file(s);
    EXPECT_TRUE(s.memory().empty()) << "a message in a file is read with read()";
    EXPECT_EQ(s.size(), 1001u);
    EXPECT_EQ(s.memory_held(), 0u) << "memory is released once in the file";
    EXPECT_EQ(read_all(s, 333), data);
}

TEST(spool, one_large_append_goes_straight_to_the_file) {
    const std::string data = pattern(5000);
    spool s(1000, temp_dir());
    ASSERT_FALSE(s.append(data));
    expect_unlinked_file(s);
    EXPECT_EQ(read_all(s), data);
}

TEST(spool, window_zero_always_uses_a_file) {
    spool s(0, temp_dir());
    EXPECT_FALSE(s.append(""));
    EXPECT_FALSE(s.has_file());
    ASSERT_FALSE(s.append("x"));
    expect_unlinked_file(s);
    EXPECT_EQ(read_all(s), "x");
}

TEST(spool, reads_at_random_offsets_are_byte_exact) {
    const std::string data = pattern(std::size_t{300} * 1024, 7);
    for (const std::size_t window : {std::size_t{512} * 1024, spool::default_memory_window}) {
        SCOPED_TRACE("window " + std::to_string(window));
        spool s(window, temp_dir());
        std::mt19937 rng(6409);
        std::size_t at = 0;
        while (at < data.size()) {
            const std::size_t n = std::min(data.size() - at, std::size_t{rng() % 20000});
            ASSERT_FALSE(s.append(std::string_view(data).substr(at, n)));
            at += n;
        }
        EXPECT_EQ(s.has_file(), window < data.size());
        EXPECT_LE(s.memory_held(), window);

        std::vector<char> buf(70000);
        for (int i = 0; i < 200; ++i) {
            const std::uint64_t offset = rng() % (data.size() + 100);
            const std::size_t len = rng() % buf.size();
            std::size_t n = 99;
            ASSERT_FALSE(s.read(offset, std::span<char>(buf.data(), len), n));
            const std::size_t want =
                offset >= data.size() ? 0 : std::min<std::size_t>(len, data.size() - offset);
            ASSERT_EQ(n, want) << "offset " << offset << " length " << len;
            if (want > 0) {
                ASSERT_EQ(std::string_view(buf.data(), n),
                          std::string_view(data).substr(offset, n));
            }
        }
    }
}

TEST(spool, read_at_and_past_the_end) {
    spool s(4, temp_dir());
    ASSERT_FALSE(s.append("abcdef"));
    char buf[8];
    std::size_t n = 99;
    EXPECT_FALSE(s.read(6, buf, n));
    EXPECT_EQ(n, 0u);
    EXPECT_FALSE(s.read(1000, buf, n));
    EXPECT_EQ(n, 0u);
    EXPECT_FALSE(s.read(4, buf, n));
    EXPECT_EQ(std::string_view(buf, n), "ef");
    EXPECT_FALSE(s.read(0, std::span<char>(buf, 0), n));
    EXPECT_EQ(n, 0u);
}

TEST(spool, clear_releases_everything_and_the_spool_is_reused) {
    spool s(1000, temp_dir());
    ASSERT_FALSE(s.append(pattern(3000)));
    ASSERT_TRUE(s.has_file());
    s.clear();
    EXPECT_EQ(s.size(), 0u);
    EXPECT_FALSE(s.has_file());
    EXPECT_EQ(s.memory_held(), 0u);
    EXPECT_EQ(read_all(s), "");

    // The next message starts in memory again, then moves to a new file.
    ASSERT_FALSE(s.append("second\r\n"));
    EXPECT_FALSE(s.has_file());
    EXPECT_EQ(read_all(s), "second\r\n");
    const std::string big = pattern(2000, 3);
    ASSERT_FALSE(s.append(big));
    expect_unlinked_file(s);
    EXPECT_EQ(read_all(s), "second\r\n" + big);

    // A message in memory is released too.
    s.clear();
    ASSERT_FALSE(s.append(pattern(900)));
    EXPECT_GE(s.memory_held(), 900u);
    s.clear();
    EXPECT_EQ(s.memory_held(), 0u);
}

TEST(spool, twenty_mib_in_64_kib_pieces) {
    constexpr std::size_t piece = std::size_t{64} * 1024;
    constexpr std::size_t total = std::size_t{20} * 1024 * 1024;
    spool s(spool::default_memory_window, temp_dir());
    for (std::size_t at = 0; at < total; at += piece) {
        ASSERT_FALSE(s.append(pattern(piece, static_cast<std::uint32_t>(at / piece))));
        ASSERT_LE(s.memory_held(), spool::default_memory_window);
    }
    EXPECT_EQ(s.size(), total);
    expect_unlinked_file(s);
    struct stat st {};
    ASSERT_EQ(::fstat(s.file_descriptor(), &st), 0);
    EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), total);

    std::vector<char> buf(std::size_t{1024} * 1024);
    for (std::size_t at = 0; at < total; at += buf.size()) {
        std::size_t n = 0;
        ASSERT_FALSE(s.read(at, buf, n));
        ASSERT_EQ(n, buf.size());
        for (std::size_t p = 0; p < n; p += piece) {
            const auto want = pattern(piece, static_cast<std::uint32_t>((at + p) / piece));
            ASSERT_EQ(std::string_view(buf.data() + p, piece), want) << "at " << at + p;
        }
    }
}

TEST(spool, temp_dir_that_does_not_exist_is_an_error_and_keeps_the_message) {
    spool s(10, temp_dir() + "/submitd-no-such-dir");
    ASSERT_FALSE(s.append("0123456789"));
    const auto ec = s.append("x");
    EXPECT_EQ(ec, std::errc::no_such_file_or_directory) << ec.message();
    EXPECT_EQ(s.size(), 10u);
    EXPECT_FALSE(s.has_file());
    EXPECT_EQ(read_all(s), "0123456789");
}

/// Lowers RLIMIT_FSIZE for the scope, so that writes past it fail with EFBIG
/// (SIGXFSZ ignored) the way a full disk fails them with ENOSPC.
class file_size_limit {
public:
    explicit file_size_limit(rlim_t bytes) {
        ::getrlimit(RLIMIT_FSIZE, &saved_);
        old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
        rlimit lowered = saved_;
        lowered.rlim_cur = bytes;
        ok_ = ::setrlimit(RLIMIT_FSIZE, &lowered) == 0;
    }
    ~file_size_limit() {
        ::setrlimit(RLIMIT_FSIZE, &saved_);
        std::signal(SIGXFSZ, old_handler_);
    }
    file_size_limit(const file_size_limit&) = delete;
    file_size_limit& operator=(const file_size_limit&) = delete;
    bool ok() const { return ok_; }

private:
    rlimit saved_{};
    void (*old_handler_)(int) = nullptr;
    bool ok_ = false;
};

TEST(spool, failed_write_is_reported_and_the_spool_stays_whole) {
    constexpr std::size_t piece = 10000;
    spool s(piece, temp_dir());
    std::string written;
    std::error_code ec;
    {
        const file_size_limit limit(35000);
        ASSERT_TRUE(limit.ok());
        for (std::uint32_t i = 0; i < 10 && !ec; ++i) {
            const std::string data = pattern(piece, i);
            ec = s.append(data);
            if (!ec) written += data;
        }
    }
    EXPECT_EQ(ec, std::errc::file_too_large) << ec.message();
    // The fourth piece passed the limit part way: the spool keeps three.
    EXPECT_EQ(s.size(), 3 * piece);
    EXPECT_EQ(read_all(s), written);

    // With room again, appends go on from the last good size.
    const std::string more = pattern(piece, 99);
    ASSERT_FALSE(s.append(more));
    EXPECT_EQ(read_all(s), written + more);
}

TEST(spool, move_keeps_the_message) {
    spool a(100, temp_dir());
    ASSERT_FALSE(a.append(pattern(500)));
    const int fd = a.file_descriptor();
    spool b(std::move(a));
    EXPECT_EQ(b.file_descriptor(), fd);
    EXPECT_EQ(read_all(b), pattern(500));

    spool c(100, temp_dir());
    ASSERT_FALSE(c.append("small"));
    c = std::move(b);
    EXPECT_EQ(c.file_descriptor(), fd);
    EXPECT_EQ(c.size(), 500u);
    EXPECT_EQ(read_all(c), pattern(500));
}

}  // namespace
}  // namespace submitd::submission
