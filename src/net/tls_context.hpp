// Server TLS contexts (OpenSSL 3): TLS 1.2 and 1.3 only, modern cipher
// suites, session resumption (cache and tickets), a certificate chain and key
// per SNI name. Built once per configuration load, shared by every worker's
// sessions, swapped whole on reload. Construction fails with
// std::runtime_error naming the file and OpenSSL's reason.
#pragma once

#include <asio/ssl/context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "config/settings.hpp"

namespace submitd::net {

class tls_context {
public:
    explicit tls_context(const config::tls_settings& settings);
    tls_context(const tls_context&) = delete;
    tls_context& operator=(const tls_context&) = delete;

    /// The context new connections start with; SNI may switch a connection
    /// to another certificate's context during the handshake.
    asio::ssl::context& context() { return *default_; }

private:
    struct named {
        std::string name;
        std::unique_ptr<asio::ssl::context> ctx;
    };
    static int on_servername(SSL* ssl, int* alert, void* arg);

    std::unique_ptr<asio::ssl::context> default_;
    std::vector<named> sni_;
};

using tls_context_ptr = std::shared_ptr<tls_context>;

}  // namespace submitd::net
