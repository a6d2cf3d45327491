// The message spool: holds one message while its transaction runs, in memory
// up to a window and beyond it in an unlinked temporary file, so a message of
// any size costs at most the window in memory (DESIGN.md principle 5).
//
// It appends and reads back bytes; it does not decode, count against the size
// limit or send anything (the DATA decoder, the session and the relay driver
// do). It needs no event loop: appends and reads are plain blocking system
// calls on a local file, as fast as the page cache. File errors (ENOSPC, EIO,
// a temp_dir that cannot be written) come back as std::error_code values in
// std::system_category(); the spool stays usable at its last good size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace submitd::submission {

class spool {
public:
    static constexpr std::size_t default_memory_window = std::size_t{128} * 1024;

    /// @param memory_window most bytes held in memory; a message that grows
    ///   past it moves to a file (0: every non-empty message goes to a file).
    /// @param temp_dir directory for the file, created unlinked with O_TMPFILE
    ///   (or, where the file system lacks it, with mkstemp() then unlink()).
    explicit spool(std::size_t memory_window = default_memory_window,
                   std::string temp_dir = "/tmp");
    ~spool();
    spool(const spool&) = delete;
    spool& operator=(const spool&) = delete;
    spool(spool&& other) noexcept;
    spool& operator=(spool&& other) noexcept;

    /// Appends `bytes` at the end. When the size would pass the window, the
    /// bytes held in memory move to a new temporary file first and the memory
    /// is released.
    /// @return an error when the file could not be created or written; the
    ///   spool then holds what it held before the call.
    std::error_code append(std::string_view bytes);

    /// @return the number of bytes appended so far.
    std::uint64_t size() const { return size_; }

    /// Empties the spool for the next message: closes the file (its space is
    /// freed with it, being unlinked) and releases the memory, so an idle
    /// session holds neither. The next message starts in memory again.
    void clear();

    /// Copies up to `buf.size()` bytes from `offset` into `buf`.
    /// @param n set to the number of bytes copied: `buf.size()`, or fewer
    ///   only at the end of the spool (0 when `offset` >= size()).
    /// @return an error when the file could not be read.
    std::error_code read(std::uint64_t offset, std::span<char> buf, std::size_t& n) const;

    /// @return bytes of memory the spool holds for the message; never more
    ///   than the window, none once the message moved to a file or cleared.
    std::size_t memory_held() const { return memory_.capacity(); }
    /// @return the message while it is held in memory (empty once it moved
    ///   to a file): sent from here, it needs no copy through read().
    std::string_view memory() const {
        return fd_ >= 0 ? std::string_view() : std::string_view(memory_.data(), memory_.size());
    }
    /// @return the message is held in a file (it grew past the window).
    bool has_file() const { return fd_ >= 0; }
    /// @return the file's descriptor, or -1 while the message is in memory.
    ///   Owned by the spool; for inspection (fstat) and for reading only.
    int file_descriptor() const { return fd_; }

private:
    std::error_code move_to_file();
    std::error_code write_at(std::uint64_t offset, std::string_view bytes);
    void close_file();

    std::size_t window_;
    std::string temp_dir_;
    std::vector<char> memory_;  ///< a vector: its reserve() is exact, a string's doubles
    int fd_ = -1;
    std::uint64_t size_ = 0;
};

}  // namespace submitd::submission
