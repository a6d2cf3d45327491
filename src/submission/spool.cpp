// The message spool; see spool.hpp.
//
// The file is created already unlinked (open(2) O_TMPFILE), so no name ever
// appears in temp_dir and the kernel frees the space when the descriptor is
// closed, however the process ends; a file system without O_TMPFILE gets
// mkstemp() and an immediate unlink(). Writes are pwrite() at the spool's
// size, which only grows once a write has fully succeeded: after a failed or
// short write (ENOSPC) the spool is still whole at its old size, and the
// next write overwrites the stray tail. The memory buffer is a vector grown
// by exact reserve() calls capped at the window (a string's reserve() may
// double past it), and is freed when the message moves to the file.
#include "submission/spool.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace submitd::submission {
namespace {

std::error_code last_error() {
    return {errno, std::system_category()};
}

/// Opens a new unlinked file in `dir` for reading and writing.
/// @return the descriptor, or -1 with errno set.
int open_unlinked(const std::string& dir) {
    const int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR)) return fd;

    // The file system (or an old kernel) lacks O_TMPFILE: EISDIR is what a
    // kernel before 3.11 says to a directory opened for writing.
    std::string path = dir + "/submitd-spool.XXXXXX";
    std::vector<char> name(path.begin(), path.end());
    name.push_back('\0');
    const int tmp = ::mkostemp(name.data(), O_CLOEXEC);  // mode 0600
    if (tmp < 0) return -1;
    if (::unlink(name.data()) != 0) {
        const int saved = errno;
        ::close(tmp);
        errno = saved;
        return -1;
    }
    return tmp;
}

}  // namespace

spool::spool(std::size_t memory_window, std::string temp_dir)
    : window_(memory_window), temp_dir_(std::move(temp_dir)) {}

spool::~spool() {
    close_file();
}

spool::spool(spool&& other) noexcept
    : window_(other.window_),
      temp_dir_(std::move(other.temp_dir_)),
      memory_(std::move(other.memory_)),
      fd_(std::exchange(other.fd_, -1)),
      size_(std::exchange(other.size_, 0)) {
    other.memory_.clear();
}

spool& spool::operator=(spool&& other) noexcept {
    if (this != &other) {
        close_file();
        window_ = other.window_;
        temp_dir_ = std::move(other.temp_dir_);
        memory_ = std::move(other.memory_);
        other.memory_.clear();
        fd_ = std::exchange(other.fd_, -1);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

void spool::close_file() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

void spool::clear() {
    close_file();
    memory_.clear();
    memory_.shrink_to_fit();
    size_ = 0;
}

std::error_code spool::append(std::string_view bytes) {
    if (bytes.empty()) return {};

    if (fd_ < 0) {
        const std::size_t need = memory_.size() + bytes.size();
        if (need <= window_) {
            if (need > memory_.capacity()) {
                memory_.reserve(std::min(window_, std::max(need, 2 * memory_.capacity())));
            }
            memory_.insert(memory_.end(), bytes.begin(), bytes.end());
            size_ += bytes.size();
            return {};
        }
        if (const auto ec = move_to_file()) return ec;
    }

    if (const auto ec = write_at(size_, bytes)) return ec;
    size_ += bytes.size();
    return {};
}

std::error_code spool::move_to_file() {
    const int fd = open_unlinked(temp_dir_);
    if (fd < 0) return last_error();
    fd_ = fd;
    if (const auto ec = write_at(0, {memory_.data(), memory_.size()})) {
        close_file();  // the message is still whole in memory
        return ec;
    }
    memory_.clear();
    memory_.shrink_to_fit();
    return {};
}

std::error_code spool::write_at(std::uint64_t offset, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::pwrite(fd_, bytes.data(), bytes.size(), static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR) continue;
            return last_error();
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
        offset += static_cast<std::uint64_t>(n);
    }
    return {};
}

std::error_code spool::read(std::uint64_t offset, std::span<char> buf, std::size_t& n) const {
    n = 0;
    if (offset >= size_) return {};
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), size_ - offset));

    if (fd_ < 0) {
        std::memcpy(buf.data(), memory_.data() + offset, want);
        n = want;
        return {};
    }

    while (n < want) {
        const ssize_t got = ::pread(fd_, buf.data() + n, want - n, static_cast<off_t>(offset + n));
        if (got < 0) {
            if (errno == EINTR) continue;
            return last_error();
        }
        if (got == 0) return std::make_error_code(std::errc::io_error);  // shorter than size_
        n += static_cast<std::size_t>(got);
    }
    return {};
}

}  // namespace submitd::submission
