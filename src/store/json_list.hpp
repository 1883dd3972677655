#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace cic::store {

/// Model lists are stored as JSON text arrays (`["llama-3-8b","qwen-2-7b"]`) in both dialects, so
/// the schema stays identical and PostgreSQL can still query them as JSONB.
std::string to_json_list(const std::vector<std::string>& items);
/// Throws StoreError when the column does not hold an array of strings.
std::vector<std::string> from_json_list(std::string_view text);

}  // namespace cic::store
