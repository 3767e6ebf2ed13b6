#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/load_engine.hpp"

namespace dibs::load {

/// A blocking HTTP/1.1 client for the calls around a load run: creating
/// coupons, reading their live stock, readiness. One connection, kept alive.
class node_client {
public:
  node_client(target server, std::string admin_token);
  ~node_client();

  struct answer {
    int status = 0;
    nlohmann::json body;
  };

  /// Throws std::runtime_error when the node cannot be reached. With an
  /// idempotency key, the request carries it as `Idempotency-Key`.
  answer call(const std::string& method, const std::string& path,
              const nlohmann::json& body = nullptr, bool admin = false,
              const std::string& idempotency_key = {});

  /// Creates a coupon open now; returns its id. Throws on anything but 201.
  /// Both tries of the request carry one idempotency key: a try whose
  /// answer was lost does not make a second coupon.
  uint32_t create_coupon(const std::string& name, int64_t total_quantity,
                         int64_t discount);

  /// The node's live view of a coupon (`GET /api/coupons/{id}`).
  nlohmann::json coupon(uint32_t id);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::string admin_token_;
};

} // namespace dibs::load
