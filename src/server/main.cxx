// submitd: a mail submission server (RFC 6409). See DESIGN.md.
//
//   submitd [--config FILE]          run in the foreground, log to stderr
//   submitd check [--config FILE]    validate and print the effective settings
//   submitd pw [--scheme SCHEME]     hash a password for the passdb
#include <cstring>
#include <iostream>
#include <string>

#include "server/commands.hpp"
#include "server/server.hpp"

namespace {

constexpr const char* default_config = "/etc/submitd/submitd.toml";

int usage(int code) {
    (code == 0 ? std::cout : std::cerr)
        << "usage: submitd [--config FILE]\n"
           "       submitd check [--config FILE]\n"
           "       submitd pw [--scheme SCHEME]   (default scheme ARGON2ID)\n";
    return code;
}

}  // namespace

int main(int argc, char** argv) {
    std::string command = "run";
    std::string config = default_config;
    std::string scheme = "ARGON2ID";
    int i = 1;
    if (i < argc && argv[i][0] != '-') command = argv[i++];
    for (; i < argc; ++i) {
        std::string arg = argv[i];
        if ((arg == "--config" || arg == "-c") && i + 1 < argc) {
            config = argv[++i];
        } else if (arg == "--scheme" && i + 1 < argc) {
            scheme = argv[++i];
        } else if (arg == "--help" || arg == "-h") {
            return usage(0);
        } else if (arg == "--version") {
            std::cout << "submitd 0.1.0\n";
            return 0;
        } else {
            std::cerr << "submitd: unexpected argument \"" << arg << "\"\n";
            return usage(2);
        }
    }
    if (command == "run") return submitd::server::run_server(config);
    if (command == "check") return submitd::server::check_config(config);
    if (command == "pw") return submitd::server::hash_password_command(scheme);
    std::cerr << "submitd: unknown command \"" << command << "\"\n";
    return usage(2);
}
