#include "json_list.hpp"

#include <nlohmann/json.hpp>

#include "cic/store/store.hpp"

namespace cic::store {

std::string to_json_list(const std::vector<std::string>& items) {
  return nlohmann::json(items).dump();
}

std::vector<std::string> from_json_list(std::string_view text) {
  // A corrupt row must surface as a store failure, not as a nlohmann exception type the callers
  // do not know about.
  try {
    auto parsed = nlohmann::json::parse(text);
    return parsed.get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw StoreError(std::string("stored JSON list is malformed: ") + e.what());
  }
}

}  // namespace cic::store
