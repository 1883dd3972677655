#include "sse_filter.hpp"

#include <nlohmann/json.hpp>

namespace cic::gateway {
namespace {

// ordered_json keeps the node's key order when a chunk has to be re-serialized.
using json = nlohmann::ordered_json;

// Reads one count if it is a number; a node's null or string leaves the previous value. Never
// throws: a malformed count must not cut a stream or lose its usage record.
template <class Json>
void read_count(const Json& object, const char* name, std::int64_t& out) {
  auto it = object.find(name);
  if (it != object.end() && it->is_number()) out = it->template get<std::int64_t>();
}

template <class Json>
void read_usage(const Json& usage, TokenUsage& out) {
  if (!usage.is_object()) return;
  out.reported = true;
  read_count(usage, "prompt_tokens", out.prompt_tokens);
  read_count(usage, "completion_tokens", out.completion_tokens);
  if (auto details = usage.find("prompt_tokens_details"); details != usage.end() && details->is_object()) {
    read_count(*details, "cached_tokens", out.cached_tokens);
  }
}

// Finds the end of the first event in `buffer` (a blank line). Returns the event length and sets
// `separator` to the blank line's length, or returns npos.
std::size_t find_event_end(std::string_view buffer, std::size_t& separator) {
  for (std::size_t i = 0; i + 1 < buffer.size(); ++i) {
    if (buffer[i] != '\n') continue;
    if (buffer[i + 1] == '\n') {
      separator = 2;
      return i;
    }
    if (buffer[i + 1] == '\r' && i + 2 < buffer.size() && buffer[i + 2] == '\n') {
      separator = 3;
      return i;
    }
  }
  return std::string_view::npos;
}

// The text of the last top-level-looking `"usage": {...}` object in `body`, or empty. Inside JSON
// strings quotes are escaped, so `"usage"` followed by ':' only occurs as a key.
std::string_view find_usage_object(std::string_view body) {
  std::size_t pos = body.size();
  while ((pos = body.rfind("\"usage\"", pos == 0 ? 0 : pos - 1)) != std::string_view::npos) {
    std::size_t i = pos + 7;
    while (i < body.size() && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t')) ++i;
    if (i < body.size() && body[i] == ':') {
      ++i;
      while (i < body.size() && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t')) ++i;
      if (i >= body.size() || body[i] != '{') return {};
      // Match braces, skipping strings.
      int depth = 0;
      bool in_string = false;
      for (std::size_t j = i; j < body.size(); ++j) {
        char c = body[j];
        if (in_string) {
          if (c == '\\') ++j;
          else if (c == '"') in_string = false;
        } else if (c == '"') {
          in_string = true;
        } else if (c == '{') {
          ++depth;
        } else if (c == '}' && --depth == 0) {
          return body.substr(i, j - i + 1);
        }
      }
      return {};
    }
    if (pos == 0) break;
  }
  return {};
}

}  // namespace

TokenUsage usage_from_response_body(std::string_view body) {
  // Only the small usage object is parsed: a whole answer can be large, and this runs on every
  // non-streamed request.
  TokenUsage usage;
  std::string_view object = find_usage_object(body);
  if (object.empty()) return usage;
  nlohmann::json doc = nlohmann::json::parse(object, nullptr, false);
  if (doc.is_object()) read_usage(doc, usage);
  return usage;
}

SseFilter::SseFilter(bool client_include_usage, bool client_continuous_usage)
    : include_usage_(client_include_usage), continuous_usage_(client_continuous_usage && client_include_usage) {}

void SseFilter::feed(std::string_view bytes, std::string& out) {
  pending_.append(bytes);
  std::size_t consumed = 0;
  for (;;) {
    std::size_t separator = 0;
    std::string_view rest = std::string_view(pending_).substr(consumed);
    std::size_t end = find_event_end(rest, separator);
    if (end == std::string_view::npos) break;
    handle_event(rest.substr(0, end), out);
    consumed += end + separator;
  }
  pending_.erase(0, consumed);
}

void SseFilter::handle_event(std::string_view event, std::string& out) {
  // An event may have several lines; vLLM sends one `data:` line per event. Other fields
  // (`event:`, `id:`, `retry:`, comments) are kept. Line ends are normalized to "\n".
  std::string_view data;
  bool has_data = false;
  std::string normalized;
  std::string other_lines;
  normalized.reserve(event.size());
  std::size_t pos = 0;
  while (pos <= event.size()) {
    std::size_t nl = event.find('\n', pos);
    std::string_view line = event.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!normalized.empty()) normalized.push_back('\n');
    if (!has_data && line.starts_with("data:")) {
      data = line.substr(5);
      if (!data.empty() && data.front() == ' ') data.remove_prefix(1);
      has_data = true;
    } else {
      other_lines.append(line).push_back('\n');
    }
    normalized.append(line);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  if (!has_data) {
    out.append(normalized).append("\n\n");  // comments and keep-alives pass through
    return;
  }
  handle_data(data, normalized, other_lines, out);
}

void SseFilter::handle_data(std::string_view data, std::string_view raw_event, std::string_view other_lines,
                            std::string& out) {
  if (data == "[DONE]") {
    saw_done_ = true;
    out.append(other_lines).append("data: [DONE]\n\n");
    return;
  }
  json chunk = json::parse(data, nullptr, false);
  if (!chunk.is_object()) {
    out.append(raw_event).append("\n\n");
    return;
  }
  if (chunk.contains("error")) saw_error_ = true;
  auto usage = chunk.find("usage");
  bool has_usage = usage != chunk.end() && usage->is_object();
  if (has_usage) read_usage(*usage, usage_);

  auto choices = chunk.find("choices");
  bool usage_only = has_usage && choices != chunk.end() && choices->is_array() && choices->empty();
  if (usage_only) {
    if (include_usage_) out.append(raw_event).append("\n\n");
    return;
  }
  if (choices != chunk.end()) ++content_events_;
  if (has_usage && !continuous_usage_) {
    chunk.erase("usage");
    out.append(other_lines).append("data: ").append(chunk.dump(-1, ' ', false, json::error_handler_t::replace)).append("\n\n");
    return;
  }
  out.append(raw_event).append("\n\n");
}

}  // namespace cic::gateway
