// Client TLS contexts; see client_tls.hpp.
#include "net/client_tls.hpp"

#include <openssl/ssl.h>

#include <fmt/format.h>
#include <asio/ssl/host_name_verification.hpp>
#include <stdexcept>

namespace submitd::net {

std::shared_ptr<asio::ssl::context> make_client_tls(bool verify, const std::string& ca_file) {
    auto tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_2_VERSION);
    if (!verify) {
        tls->set_verify_mode(asio::ssl::verify_none);
        return tls;
    }
    tls->set_verify_mode(asio::ssl::verify_peer);
    std::error_code ec;
    if (!ca_file.empty()) {
        tls->load_verify_file(ca_file, ec);
    } else {
        tls->set_default_verify_paths(ec);
    }
    if (ec) {
        throw std::runtime_error(fmt::format("cannot load CA file {}: {}",
                                             ca_file.empty() ? "(system)" : ca_file, ec.message()));
    }
    return tls;
}

void prepare_client_tls(asio::ssl::stream<asio::ip::tcp::socket&>& tls, const std::string& name,
                        bool verify) {
    SSL_set_tlsext_host_name(tls.native_handle(), name.c_str());
    if (verify) tls.set_verify_callback(asio::ssl::host_name_verification(name));
}

}  // namespace submitd::net
