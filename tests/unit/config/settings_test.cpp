// The configuration loader: defaults, every error naming the file, line and
// key, relative paths, and describe() printing what was loaded.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/settings.hpp"

namespace submitd::config {
namespace {

namespace fs = std::filesystem;

class settings_test : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ =
            fs::temp_directory_path() /
            ("submitd-config-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
             "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string write(const std::string& text) {
        auto p = dir_ / "submitd.toml";
        std::ofstream(p) << text;
        return p.string();
    }

    /// The message of the config_error that loading `text` throws.
    std::string error_of(const std::string& text) {
        try {
            load_settings(write(text));
        } catch (const config_error& e) {
            return e.what();
        }
        return "(no error)";
    }

    static constexpr const char* minimal =
        "[[listener]]\naddress = \"127.0.0.1:587\"\n"
        "[tls]\ncertificate = \"cert.pem\"\nkey = \"key.pem\"\n"
        "[passdb]\npath = \"passwd\"\n";

    fs::path dir_;
};

TEST_F(settings_test, minimal_file_gets_defaults_and_resolved_paths) {
    auto s = load_settings(write(minimal));
    ASSERT_EQ(s->listeners.size(), 1u);
    EXPECT_EQ(s->listeners[0].host, "127.0.0.1");
    EXPECT_EQ(s->listeners[0].port, 587);
    EXPECT_EQ(s->listeners[0].tls, tls_mode::starttls);
    EXPECT_EQ(s->tls.default_certificate.certificate, (dir_ / "cert.pem").string());
    EXPECT_EQ(s->passdb.path, (dir_ / "passwd").string());
    EXPECT_GE(s->server.workers, 1u);
    EXPECT_FALSE(s->server.hostname.empty());
    EXPECT_EQ(s->auth.mechanisms, (std::vector<std::string>{"PLAIN", "LOGIN"}));
    EXPECT_FALSE(s->auth.allow_plaintext_auth);
    EXPECT_EQ(s->limits.max_command_line, 2048u);
    EXPECT_EQ(s->limits.idle_timeout, milliseconds(300000));
    EXPECT_EQ(s->limits.min_data_rate, 500u);  // Postfix's smtpd_min_data_rate
}

TEST_F(settings_test, min_data_rate) {
    auto s = load_settings(write(std::string(minimal) + "[limits]\nmin_data_rate = 2048\n"));
    EXPECT_EQ(s->limits.min_data_rate, 2048u);
    EXPECT_NE(describe(*s).find("\nmin_data_rate = 2048\n"), std::string::npos) << describe(*s);
    // 0 turns it off.
    EXPECT_EQ(load_settings(write(std::string(minimal) + "[limits]\nmin_data_rate = 0\n"))
                  ->limits.min_data_rate,
              0u);
    EXPECT_NE(describe(*load_settings(write(minimal))).find("\nmin_data_rate = 500\n"),
              std::string::npos);
}

TEST_F(settings_test, reference_configuration_loads) {
    auto s = load_settings(SUBMITD_SOURCE_DIR "/etc/submitd.toml");
    EXPECT_EQ(s->listeners.size(), 2u);
    EXPECT_EQ(s->listeners[1].tls, tls_mode::implicit);
    EXPECT_EQ(s->limits.min_data_rate, 500u);
}

TEST_F(settings_test, ipv6_listener_and_values) {
    auto s = load_settings(write(std::string(minimal) +
                                 "[[listener]]\nname = \"v6\"\naddress = \"[::1]:465\"\n"
                                 "tls = \"implicit\"\n[limits]\nidle_timeout = 0.5\n"));
    ASSERT_EQ(s->listeners.size(), 2u);
    EXPECT_EQ(s->listeners[1].host, "::1");
    EXPECT_EQ(s->listeners[1].port, 465);
    EXPECT_EQ(s->limits.idle_timeout, milliseconds(500));
    EXPECT_NE(describe(*s).find("address = \"[::1]:465\""), std::string::npos);
}

TEST_F(settings_test, errors_name_line_and_key) {
    struct row {
        std::string text;
        std::string expected;
    };
    const std::vector<row> rows = {
        {std::string(minimal) + "[server]\nbogus = 1\n", ":9: server.bogus: unknown key"},
        {std::string(minimal) + "[limits]\nmax_bad_commands = 0\n",
         ":9: limits.max_bad_commands: must be between 1 and 1000"},
        {std::string(minimal) + "[limits]\nmin_data_rate = -1\n",
         ":9: limits.min_data_rate: must be between 0 and 1073741824"},
        {std::string(minimal) + "[limits]\nmin_data_rate = 1.5\n",
         ":9: limits.min_data_rate: expected an integer"},
        {std::string(minimal) + "[server]\nworkers = \"two\"\n",
         ":9: server.workers: expected an integer"},
        {std::string(minimal) + "[auth]\nmechanisms = [\"CRAM-MD5\"]\n",
         ":9: auth.mechanisms: unknown mechanism \"CRAM-MD5\""},
        {std::string(minimal) + "[[listener]]\naddress = \"localhost\"\n",
         ":9: listener.address: expected \"IPv4:port\""},
        {std::string(minimal) + "[[listener]]\naddress = \"127.0.0.1:99999\"\n",
         ":9: listener.address: port must be at most 65535"},
        // Found by fuzz_config: names passed `check` and failed at start-up.
        {std::string(minimal) + "[[listener]]\naddress = \"mail.example.org:587\"\n",
         ":9: listener.address: expected a numeric IPv4 address (IPv6 in brackets)"},
        {std::string(minimal) + "[[listener]]\naddress = \"[a\\\"b]:587\"\n",
         ":9: listener.address: expected a numeric IPv6 address in brackets"},
        {std::string(minimal) + "[[listener]]\naddress = \"[127.0.0.1]:587\"\n",
         ":9: listener.address: expected a numeric IPv6 address in brackets"},
        {std::string(minimal) + "[[listener]]\naddress = \"127.0.0.1:1\"\ntls = \"maybe\"\n",
         ":10: listener.tls: expected \"starttls\" or \"implicit\""},
        {"bogus = true\n" + std::string(minimal), ":1: bogus: unknown key"},
        {std::string(minimal) + "bogus = true\n", ":8: passdb.bogus: unknown key"},
        {"[tls]\ncertificate = \"c\"\nkey = \"k\"\n[passdb]\npath = \"p\"\n",
         "listener: at least one [[listener]] is required"},
        {std::string(minimal) + "[server\n", ":8:"},
    };
    for (const auto& r : rows) {
        std::string e = error_of(r.text);
        EXPECT_NE(e.find(r.expected), std::string::npos)
            << "got: " << e << "\nwant: " << r.expected;
        EXPECT_NE(e.find("submitd.toml"), std::string::npos) << e;
    }
}

TEST_F(settings_test, describe_output_loads_back_with_control_characters) {
    // Found by fuzz_config: control characters were printed raw (not TOML).
    std::string text = minimal;
    text.replace(text.find("key = \"key.pem\"\n"), 16,
                 "key = \"key.pem\"\nciphers = \"a\\u0001b\\tc\\\"d\\\\e\"\n");
    auto s = load_settings(write(text));
    ASSERT_EQ(s->tls.ciphers,
              "a\x01"
              "b\tc\"d\\e");
    std::string printed = describe(*s);
    EXPECT_NE(printed.find("ciphers = \"a\\u0001b\\u0009c\\\"d\\\\e\""), std::string::npos)
        << printed;
    auto again = load_settings(write(printed));
    EXPECT_EQ(again->tls.ciphers, s->tls.ciphers);
}

TEST_F(settings_test, burl_servers_and_their_capability) {
    auto s =
        load_settings(write(std::string(minimal) +
                            "[burl]\ncommand_timeout = 5\n"
                            "[[burl.server]]\nhost = \"IMAP.Example.ORG\"\ntls = \"implicit\"\n"
                            "modes = [\"urlauth\"]\nurlauth_user = \"submit\"\n"
                            "urlauth_password = \"s3cret\"\n"
                            "[[burl.server]]\nhost = \"127.0.0.1\"\nport = 1143\n"
                            "modes = [\"trusted\", \"urlauth\"]\nmaster_user = \"m\"\n"
                            "master_password = \"mpw\"\nmaster_separator = \"*\"\n"
                            "urlauth_user = \"submit\"\nurlauth_password = \"pw\"\n"));
    ASSERT_EQ(s->burl.servers.size(), 2u);
    const auto& a = s->burl.servers[0];
    EXPECT_EQ(a.host, "imap.example.org");
    EXPECT_EQ(a.port, 993);  // the default with implicit TLS
    EXPECT_TRUE(a.urlauth);
    EXPECT_FALSE(a.trusted);
    const auto& b = s->burl.servers[1];
    EXPECT_EQ(b.port, 1143);
    EXPECT_TRUE(b.urlauth && b.trusted);
    EXPECT_EQ(b.master_separator, "*");
    EXPECT_EQ(s->burl.command_timeout, milliseconds(5000));
    EXPECT_EQ(burl_capability(s->burl),
              (std::vector<std::string>{"imap", "imap://127.0.0.1:1143"}));
    std::string d = describe(*s);
    EXPECT_NE(d.find("modes = [\"urlauth\", \"trusted\"]"), std::string::npos) << d;
    EXPECT_EQ(d.find("s3cret"), std::string::npos) << "a password in the description";
    EXPECT_EQ(d.find("mpw"), std::string::npos) << "a password in the description";
    // No server: no BURL.
    EXPECT_TRUE(burl_capability(load_settings(write(minimal))->burl).empty());
}

TEST_F(settings_test, burl_errors) {
    const std::string server = std::string(minimal) + "[[burl.server]]\nhost = \"imap.test\"\n";
    struct row {
        std::string text;
        std::string expected;
    };
    const std::vector<row> rows = {
        {server, "burl.server.modes: missing"},
        {server + "modes = []\n", "burl.server.modes: expected a list"},
        {server + "modes = [\"magic\"]\n",
         "burl.server.modes: expected \"urlauth\" or \"trusted\""},
        {server + "modes = [\"urlauth\"]\n",
         "mode urlauth needs urlauth_user and urlauth_password"},
        {server + "modes = [\"trusted\"]\nmaster_user = \"m\"\n",
         "mode trusted needs master_user and master_password"},
        {server + "modes = [\"urlauth\"]\nurlauth_user = \"u\"\nurlauth_password = \"p\"\n"
                  "tls = \"always\"\n",
         "burl.server.tls: expected \"none\", \"starttls\" or \"implicit\""},
        {server +
             "modes = [\"urlauth\"]\nurlauth_user = \"u\"\nurlauth_password = \"p\"\nport = 0\n",
         "burl.server.port: must be between 1 and 65535"},
        {server + "modes = [\"urlauth\"]\nurlauth_user = \"u\"\nurlauth_password = \"p\"\n"
                  "[[burl.server]]\nhost = \"IMAP.test\"\nmodes = [\"urlauth\"]\n"
                  "urlauth_user = \"u\"\nurlauth_password = \"p\"\n",
         "burl.server.host: the same host and port twice"},
        {std::string(minimal) + "[[burl.server]]\nhost = \"[::1]\"\n", "burl.server.host:"},
        {std::string(minimal) + "[burl]\nbogus = 1\n", "burl.bogus: unknown key"},
    };
    for (const auto& r : rows) {
        std::string e = error_of(r.text);
        EXPECT_NE(e.find(r.expected), std::string::npos)
            << "got: " << e << "\nwant: " << r.expected;
    }
}

TEST_F(settings_test, missing_file) {
    EXPECT_THROW(load_settings((dir_ / "nope.toml").string()), config_error);
}

}  // namespace
}  // namespace submitd::config
