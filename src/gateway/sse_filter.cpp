#include "sse_filter.hpp"

#include "json_scan.hpp"

namespace cic::gateway {
namespace {

// Reads a usage object's counts straight from its text; a null or non-numeric count leaves the
// previous value. This runs on every chunk of every stream (continuous usage), so no parser.
void read_usage_text(std::string_view text, TokenUsage& out) {
  auto visit = [](void* p, std::string_view key, std::string_view value) {
    auto& usage = *static_cast<TokenUsage*>(p);
    if (key == "\"prompt_tokens\"") {
      if (auto n = json_integer(value)) usage.prompt_tokens = *n;
    } else if (key == "\"completion_tokens\"") {
      if (auto n = json_integer(value)) usage.completion_tokens = *n;
    } else if (key == "\"prompt_tokens_details\"" && value.starts_with('{')) {
      for_each_member(
          value,
          [](void* q, std::string_view k, std::string_view v) {
            if (k == "\"cached_tokens\"") {
              if (auto n = json_integer(v)) static_cast<TokenUsage*>(q)->cached_tokens = *n;
            }
          },
          p);
    }
  };
  TokenUsage parsed = out;
  if (for_each_member(text, visit, &parsed)) {
    parsed.reported = true;
    out = parsed;
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

}  // namespace

TokenUsage usage_from_response_body(std::string_view body) {
  // Only the small usage object is parsed: a whole answer can be large, and this runs on every
  // non-streamed request.
  TokenUsage usage;
  TopLevelMembers members = scan_top_level(body);
  if (!members.valid || !members.usage) return usage;
  read_usage_text(body.substr(members.usage->value_begin, members.usage->value_end - members.usage->value_begin), usage);
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
  // The common case, one `data:` line (how vLLM sends every event), needs no copying.
  if (event.starts_with("data:") && event.find('\n') == std::string_view::npos && !event.ends_with('\r')) {
    std::string_view data = event.substr(5);
    if (!data.empty() && data.front() == ' ') data.remove_prefix(1);
    handle_data(data, event, {}, out);
    return;
  }
  // Otherwise: several lines. Other fields (`event:`, `id:`, `retry:`, comments) are kept, and
  // line ends are normalized to "\n".
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
  handle_data(data, normalized, other_lines, out);  // `data` views the caller's buffer, still intact
}

void SseFilter::handle_data(std::string_view data, std::string_view raw_event, std::string_view other_lines,
                            std::string& out) {
  if (data == "[DONE]") {
    saw_done_ = true;
    out.append(other_lines).append("data: [DONE]\n\n");
    return;
  }
  // A string-level scan, not a parse: this runs for every token of every stream.
  TopLevelMembers members = scan_top_level(data);
  if (!members.valid) {
    out.append(raw_event).append("\n\n");
    return;
  }
  if (members.error) saw_error_ = true;
  bool has_usage = members.usage && data[members.usage->value_begin] == '{';
  if (has_usage) {
    read_usage_text(data.substr(members.usage->value_begin, members.usage->value_end - members.usage->value_begin), usage_);
  }
  bool empty_choices = false;
  if (members.choices) {
    std::string_view choices = data.substr(members.choices->value_begin, members.choices->value_end - members.choices->value_begin);
    empty_choices = choices.size() >= 2 && choices.front() == '[' && choices.find_first_not_of(" \t\r\n", 1) == choices.size() - 1;
  }
  if (has_usage && empty_choices) {  // the usage-only chunk at the end
    if (include_usage_) out.append(raw_event).append("\n\n");
    return;
  }
  if (members.choices) ++content_events_;
  if (has_usage && !continuous_usage_) {
    out.append(other_lines).append("data: ").append(remove_member(data, *members.usage)).append("\n\n");
    return;
  }
  out.append(raw_event).append("\n\n");
}

}  // namespace cic::gateway
