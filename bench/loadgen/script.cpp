// Prebuilt commands and message; see script.hpp.
#include "loadgen/script.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <fmt/format.h>
#include <stdexcept>

namespace submitd::bench {

namespace {

constexpr std::size_t line_chars = 76;  // plus CRLF: 78 bytes a line

std::string base64(const std::string& in) {
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(in.data()),
                            static_cast<int>(in.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::string headers(const options& o, std::size_t subject_pad) {
    return fmt::format(
        "From: <{}>\r\n"
        "To: <rcpt-1@example.net>\r\n"
        "Subject: submitd-bench-load test message{}\r\n"
        "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
        "Message-ID: <submitd-bench-load@example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n",
        o.from, std::string(subject_pad, 'x'));
}

// Line k of the body: RFC 864 character generator text (printable ASCII from
// an offset rotating with k), so about one line in 95 starts with '.' and
// gets stuffed, as real text sometimes does.
void append_line(std::string& msg, std::string& wire, std::size_t k, std::size_t chars) {
    std::size_t start = msg.size();
    for (std::size_t i = 0; i < chars; ++i)
        msg.push_back(static_cast<char>(' ' + (k + i) % 95));
    msg.append("\r\n");
    if (msg[start] == '.') wire.push_back('.');
    wire.append(msg, start, std::string::npos);
}

}  // namespace

script build_script(const options& o) {
    script s;
    s.ehlo = fmt::format("EHLO {}\r\n", o.helo);
    s.starttls = "STARTTLS\r\n";
    s.quit = "QUIT\r\n";
    if (!o.user.empty()) {
        std::string creds;
        creds.push_back('\0');
        creds.append(o.user);
        creds.push_back('\0');
        creds.append(o.password);
        s.auth = fmt::format("AUTH PLAIN {}\r\n", base64(creds));
        OPENSSL_cleanse(creds.data(), creds.size());
    }

    s.envelope = fmt::format("MAIL FROM:<{}>\r\n", o.from);
    s.command_ends.push_back(s.envelope.size());
    for (unsigned i = 1; i <= o.rcpts; ++i) {
        s.envelope.append(fmt::format("RCPT TO:<rcpt-{}@example.net>\r\n", i));
        s.command_ends.push_back(s.envelope.size());
    }
    s.envelope.append("DATA\r\n");
    s.command_ends.push_back(s.envelope.size());

    // Headers, then 78-byte lines, then one shorter line for the rest. A rest
    // of one byte cannot be a line, so the subject takes it.
    std::string head = headers(o, 0);
    if (o.size < head.size()) {
        throw std::invalid_argument(
            fmt::format("--size must be at least {} (the headers)", head.size()));
    }
    if ((o.size - head.size()) % (line_chars + 2) == 1) head = headers(o, 1);
    std::string msg = head;
    std::string wire = head;
    msg.reserve(o.size);
    wire.reserve(o.size + o.size / 95 / (line_chars + 2) + 8);
    std::size_t k = 0;
    while (o.size - msg.size() >= line_chars + 2)
        append_line(msg, wire, k++, line_chars);
    if (std::size_t rest = o.size - msg.size(); rest >= 2) append_line(msg, wire, k, rest - 2);
    if (msg.size() != o.size) throw std::logic_error("message size mismatch");
    wire.append(".\r\n");
    s.body = std::move(wire);
    s.message_size = msg.size();
    return s;
}

}  // namespace submitd::bench
