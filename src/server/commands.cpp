// `submitd check` and `submitd pw`; see commands.hpp.
#include "server/commands.hpp"

#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "auth/password_scheme.hpp"
#include "core/secret.hpp"
#include "server/runtime.hpp"

namespace submitd::server {

int check_config(const std::string& config_path) {
    try {
        auto settings = config::load_settings(config_path);
        build_runtime(settings, nullptr, nullptr);
        std::cout << config::describe(*settings);
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "submitd: " << e.what() << "\n";
        return 2;
    }
}

namespace {

/// Reads one line without echo when stdin is a terminal.
bool read_password(const char* prompt, std::string& out) {
    bool tty = isatty(STDIN_FILENO) != 0;
    termios saved{};
    if (tty) {
        std::fputs(prompt, stderr);
        tcgetattr(STDIN_FILENO, &saved);
        termios quiet = saved;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    bool ok = static_cast<bool>(std::getline(std::cin, out));
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        std::fputs("\n", stderr);
    }
    if (!out.empty() && out.back() == '\r') out.pop_back();
    return ok;
}

}  // namespace

int hash_password_command(const std::string& scheme) {
    if (!auth::is_known_scheme(scheme)) {
        std::cerr << "submitd pw: unknown scheme \"" << scheme << "\"; known:";
        for (auto s : auth::known_schemes())
            std::cerr << " " << s;
        std::cerr << "\n";
        return 2;
    }
    std::string first;
    std::string second;
    if (!read_password("Enter new password: ", first)) {
        std::cerr << "submitd pw: no password given\n";
        return 2;
    }
    core::secret_string password(std::move(first));
    if (isatty(STDIN_FILENO) != 0) {
        read_password("Retype new password: ", second);
        core::secret_string again(std::move(second));
        if (again.view() != password.view()) {
            std::cerr << "submitd pw: passwords do not match\n";
            return 2;
        }
    }
    if (password.empty()) {
        std::cerr << "submitd pw: empty password\n";
        return 2;
    }
    auto hash = auth::hash_password(scheme, password.view());
    if (!hash) {
        std::cerr << "submitd pw: cannot hash this password with " << scheme << "\n";
        return 2;
    }
    std::cout << *hash << "\n";
    return 0;
}

}  // namespace submitd::server
