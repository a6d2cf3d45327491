// The post-login (submission) stage as a sans-I/O state machine. It starts
// from an ipc::handoff and shares nothing else with the login stage.
//
// This first cut answers the session commands (EHLO, HELO, NOOP, RSET, HELP,
// QUIT; AUTH and STARTTLS refused as RFC 4954 and 3207 say) and refuses mail
// transactions with 451 4.3.0 until the relay path is built: nothing is ever
// accepted that could not be relayed.
#pragma once

#include <string>
#include <string_view>

#include "ipc/handoff.hpp"
#include "smtp/capabilities.hpp"
#include "smtp/line_reader.hpp"

namespace submitd::submission {

struct submission_settings {
    smtp::capability_state capabilities;  ///< as announced to this connection
    std::size_t max_command_line = 2048;
    unsigned max_bad_commands = 10;
};

enum class action { need_input, close };

class submission_machine {
public:
    submission_machine(const submission_settings& settings, ipc::handoff handoff);

    action on_input(std::string_view in, std::size_t& consumed);
    void on_timeout();
    void on_shutdown();

    std::string& output() { return out_; }
    bool in_command() const { return partial_; }
    unsigned commands() const { return commands_; }
    std::string_view close_reason() const { return close_reason_; }
    const ipc::handoff& session() const { return handoff_; }

private:
    action dispatch(std::string_view line);
    action reply(int code, std::string_view enhanced, std::string_view text);
    action error(int code, std::string_view enhanced, std::string_view text,
                 std::string_view log_reason);
    action close(int code, std::string_view enhanced, std::string_view text,
                 std::string_view reason);

    const submission_settings& settings_;
    ipc::handoff handoff_;
    smtp::line_reader reader_;
    std::string out_;
    unsigned commands_ = 0;
    unsigned bad_commands_ = 0;
    bool partial_ = false;
    bool closed_ = false;
    std::string close_reason_;
};

}  // namespace submitd::submission
