// Command line of submitd-bench-load: the flags, their defaults and limits,
// and the usage text. Parsing only; it does not check that the host answers.
// A bad flag or value yields an error text (the caller prints it with the
// usage and exits 2).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace submitd::bench {

enum class tls_mode { none, starttls, implicit };

struct options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    tls_mode tls = tls_mode::none;
    std::string ca_file;      ///< empty: the server's certificate is not verified
    std::string server_name;  ///< SNI and the name verified; empty: no SNI
    std::string user;         ///< empty: no AUTH
    std::string password;
    unsigned connections = 1;
    std::uint64_t messages_per_conn = 1;
    std::uint64_t messages = 1000;  ///< total, when duration_s is 0
    double duration_s = 0;          ///< > 0: run for this long instead
    unsigned rcpts = 1;
    std::size_t size = 2048;
    bool pipelining = false;
    unsigned idle = 0;  ///< > 0: idle mode with this many sessions
    bool json = false;
    std::string helo = "loadgen.example.org";
    std::string from = "loadgen@example.org";
    unsigned threads = 1;
};

struct parsed_options {
    std::optional<options> opts;  ///< set on success
    bool help = false;            ///< --help was given
    std::string error;            ///< why parsing failed
};

parsed_options parse_options(int argc, char** argv);

std::string usage_text();

}  // namespace submitd::bench
