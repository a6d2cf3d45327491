// TLS for the connections submitd opens (to relays and IMAP servers): a client
// context (TLS 1.2 or later, the peer verified against `ca_file` or the
// system's CAs unless verification is off) and the per-connection setup of
// SNI and host name verification.
#pragma once

#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <memory>
#include <string>

namespace submitd::net {

/// @throws std::runtime_error when `ca_file` cannot be loaded.
std::shared_ptr<asio::ssl::context> make_client_tls(bool verify, const std::string& ca_file);

/// Sends `name` as SNI and, with `verify`, checks the certificate names it.
void prepare_client_tls(asio::ssl::stream<asio::ip::tcp::socket&>& tls, const std::string& name,
                        bool verify);

}  // namespace submitd::net
