#pragma once
#include <string>

namespace cic {

/// A request handed from the HTTP layer to a blocking handler (the admin API), without any
/// networking types, so handlers can be unit-tested and run on the blocking pool.
struct HttpCall {
  std::string method;         // GET, POST, PATCH, DELETE
  std::string target;         // path and query, e.g. "/admin/v1/orgs?limit=10"
  std::string authorization;  // the Authorization header, verbatim
  std::string body;
  std::string request_id;
};

struct HttpReply {
  int status = 200;
  std::string body;  // JSON
};

}  // namespace cic
