// Server TLS contexts; see tls_context.hpp.
#include "net/tls_context.hpp"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <strings.h>

#include <stdexcept>

namespace submitd::net {

namespace {

std::string openssl_error() {
    unsigned long e = ERR_get_error();
    std::string out;
    while (e != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
        e = ERR_get_error();
    }
    return out.empty() ? "unknown OpenSSL error" : out;
}

// The same id on every context, so a session resumed after an SNI switch
// still matches.
constexpr unsigned char session_id_context[] = "submitd";

std::unique_ptr<asio::ssl::context> make_context(const config::tls_settings& s,
                                                 const config::certificate_settings& cert) {
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    SSL_CTX* h = ctx->native_handle();
    int min = s.min_version == "TLSv1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
    SSL_CTX_set_min_proto_version(h, min);
    SSL_CTX_set_max_proto_version(h, TLS1_3_VERSION);
    SSL_CTX_set_options(h, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_NO_COMPRESSION | SSL_OP_SINGLE_ECDH_USE);
    // Idle sessions hold no TLS read/write buffers (memory per idle session).
    SSL_CTX_set_mode(h, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(h, s.ciphers.c_str()) != 1) {
        throw std::runtime_error(
            fmt::format("tls.ciphers: no usable cipher in \"{}\": {}", s.ciphers, openssl_error()));
    }
    SSL_CTX_set_session_cache_mode(h, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(h, s.session_cache_size);
    SSL_CTX_set_session_id_context(h, session_id_context, sizeof session_id_context - 1);
    // TLS 1.3: one session ticket after the handshake, not OpenSSL's two; a
    // mail client resumes with one, and each costs an encoding and an
    // encryption per connection.
    SSL_CTX_set_num_tickets(h, 1);
    if (SSL_CTX_use_certificate_chain_file(h, cert.certificate.c_str()) != 1) {
        throw std::runtime_error(
            fmt::format("cannot load certificate chain {}: {}", cert.certificate, openssl_error()));
    }
    if (SSL_CTX_use_PrivateKey_file(h, cert.key.c_str(), SSL_FILETYPE_PEM) != 1) {
        throw std::runtime_error(
            fmt::format("cannot load private key {}: {}", cert.key, openssl_error()));
    }
    if (SSL_CTX_check_private_key(h) != 1) {
        throw std::runtime_error(fmt::format("private key {} does not match certificate {}: {}",
                                             cert.key, cert.certificate, openssl_error()));
    }
    return ctx;
}

}  // namespace

tls_context::tls_context(const config::tls_settings& settings)
    : default_(make_context(settings, settings.default_certificate)) {
    for (const auto& c : settings.sni)
        sni_.push_back({c.name, make_context(settings, c)});
    if (!sni_.empty()) {
        SSL_CTX_set_tlsext_servername_callback(default_->native_handle(), &on_servername);
        SSL_CTX_set_tlsext_servername_arg(default_->native_handle(), this);
    }
}

int tls_context::on_servername(SSL* ssl, int* /*alert*/, void* arg) {
    auto* self = static_cast<tls_context*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == nullptr) return SSL_TLSEXT_ERR_OK;
    for (const auto& n : self->sni_) {
        if (strcasecmp(n.name.c_str(), name) == 0) {
            SSL_set_SSL_CTX(ssl, n.ctx->native_handle());
            break;
        }
    }
    return SSL_TLSEXT_ERR_OK;
}

}  // namespace submitd::net
