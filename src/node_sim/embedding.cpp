#include "node_sim/embedding.hpp"

#include <bit>
#include <cmath>
#include <cstring>

#include "node_sim/hashing.hpp"
#include "node_sim/json_text.hpp"

namespace cic::node_sim {

void fill_embedding(std::uint64_t hash, std::uint32_t dim, std::vector<float>& out) {
  out.resize(dim);
  const std::uint64_t seed = splitmix64(hash ^ 0xe17a1465ULL);
  // Two passes over the same sequence: the norm first, then the scaled values, so no temporary.
  auto component = [](std::uint64_t& state) {
    state = splitmix64(state);
    return unit_interval(state) * 2.0 - 1.0;
  };
  std::uint64_t state = seed;
  double norm_sq = 0.0;
  for (std::uint32_t i = 0; i < dim; ++i) {
    double v = component(state);
    norm_sq += v * v;
  }
  double inv = norm_sq > 0.0 ? 1.0 / std::sqrt(norm_sq) : 0.0;
  state = seed;
  for (std::uint32_t i = 0; i < dim; ++i) out[i] = static_cast<float>(component(state) * inv);
}

void append_base64(std::string& out, const unsigned char* data, std::size_t size) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    std::uint32_t v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (std::size_t rest = size - i; rest > 0) {
    std::uint32_t v = data[i] << 16;
    if (rest == 2) v |= data[i + 1] << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
}

void append_embedding_response(std::string& out, const ResponseIdentity& id,
                               const GenerationRequest& request, std::vector<float>& scratch) {
  static_assert(std::endian::native == std::endian::little,
                "base64 embeddings are little-endian float32, as numpy writes them on x86/ARM");
  out.append("{\"id\":\"embd-");
  std::size_t mark = out.size();
  append_json_string(out, id.request_id);
  out.erase(mark, 1);
  out.append(",\"object\":\"list\",\"created\":");
  append_int(out, id.created);
  out.append(",\"model\":");
  append_json_string(out, id.model);
  out.append(",\"data\":[");
  for (std::size_t i = 0; i < request.prompts.size(); ++i) {
    fill_embedding(request.prompts[i].hash, request.dimensions, scratch);
    if (i > 0) out.push_back(',');
    out.append("{\"index\":");
    append_uint(out, i);
    out.append(",\"object\":\"embedding\",\"embedding\":");
    if (request.base64) {
      out.push_back('"');
      append_base64(out, reinterpret_cast<const unsigned char*>(scratch.data()),
                    scratch.size() * sizeof(float));
      out.push_back('"');
    } else {
      out.push_back('[');
      for (std::size_t k = 0; k < scratch.size(); ++k) {
        if (k > 0) out.push_back(',');
        append_float(out, scratch[k]);
      }
      out.push_back(']');
    }
    out.push_back('}');
  }
  out.append("],\"usage\":{\"prompt_tokens\":");
  append_uint(out, request.prompt_tokens_total);
  out.append(",\"total_tokens\":");
  append_uint(out, request.prompt_tokens_total);
  out.append(",\"completion_tokens\":0,\"prompt_tokens_details\":null}}");
}

}  // namespace cic::node_sim
