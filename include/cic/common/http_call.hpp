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
  std::string accept;         // the Accept header, verbatim (e.g. "text/csv" asks for CSV)
};

struct HttpReply {
  int status = 200;
  std::string body;  // JSON, unless content_type says otherwise
  std::string content_type = "application/json";
};

}  // namespace cic
