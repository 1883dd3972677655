#pragma once
// Deterministic embeddings: a unit-length float32 vector derived from each input's hash.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "node_sim/request_parse.hpp"
#include "node_sim/responses.hpp"

namespace cic::node_sim {

/// Fills `out` with `dim` floats of Euclidean norm 1 (in double precision before rounding).
void fill_embedding(std::uint64_t hash, std::uint32_t dim, std::vector<float>& out);

/// Standard base64 (RFC 4648, with padding).
void append_base64(std::string& out, const unsigned char* data, std::size_t size);

/// The /v1/embeddings body; `scratch` is reused between requests.
void append_embedding_response(std::string& out, const ResponseIdentity& id,
                               const GenerationRequest& request, std::vector<float>& scratch);

}  // namespace cic::node_sim
