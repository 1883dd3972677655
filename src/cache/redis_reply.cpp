#include <hiredis/hiredis.h>

#include "cic/cache/redis_client.hpp"
#include "redis_connection.hpp"

namespace cic::cache {

bool Reply::is_noscript() const { return kind == Kind::kError && text.compare(0, 8, "NOSCRIPT") == 0; }

Reply Reply::error(std::string message) {
  Reply r;
  r.kind = Kind::kError;
  r.text = std::move(message);
  return r;
}

Reply Reply::timeout() {
  Reply r = error("timed out");
  r.timed_out = true;
  return r;
}

namespace detail {

Reply convert_reply(const redisReply* r) {
  Reply out;
  if (r == nullptr) return Reply::error("connection closed");
  switch (r->type) {
    case REDIS_REPLY_ERROR:
      out.kind = Reply::Kind::kError;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.kind = Reply::Kind::kStatus;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STRING:
      out.kind = Reply::Kind::kString;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.kind = Reply::Kind::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_NIL:
      out.kind = Reply::Kind::kNil;
      break;
    case REDIS_REPLY_ARRAY:
      out.kind = Reply::Kind::kArray;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert_reply(r->element[i]));
      break;
    default:
      out = Reply::error("unknown reply type");
  }
  return out;
}

}  // namespace detail
}  // namespace cic::cache
