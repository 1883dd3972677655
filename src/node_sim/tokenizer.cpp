#include "node_sim/tokenizer.hpp"

namespace cic::node_sim {
namespace {

bool is_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

bool is_space_byte(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

}  // namespace

std::uint32_t count_tokens(std::string_view text) {
  std::uint32_t tokens = 0;
  bool in_word = false;
  for (unsigned char c : text) {
    if (is_word_byte(c)) {
      if (!in_word) ++tokens;
      in_word = true;
    } else {
      in_word = false;
      if (!is_space_byte(c)) ++tokens;
    }
  }
  return tokens;
}

}  // namespace cic::node_sim
