#pragma once
#include <atomic>
#include <memory>
#include <span>
#include <string>

#include "cic/registry/node.hpp"

namespace cic::scheduler {

/// What a strategy may look at besides the candidates.
struct PickHints {
  std::string_view affinity_key;  // prompt prefix or `user`, for affinity strategies
};

/// Picks one node among eligible candidates (all ready, all serving the model). Implementations
/// are thread-safe and lock-free: they run on every request on every loop thread.
class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual const registry::Node* pick(std::span<const registry::Node* const> candidates,
                                     const PickHints& hints) = 0;
  virtual const char* name() const = 0;
};

/// Spreads requests evenly in turn.
class RoundRobinStrategy final : public Strategy {
 public:
  const registry::Node* pick(std::span<const registry::Node* const> candidates, const PickHints&) override;
  const char* name() const override { return "round_robin"; }

 private:
  std::atomic<std::uint64_t> next_{0};
};

/// The candidate with the fewest requests in flight (ties broken by position).
class LeastConnectionsStrategy final : public Strategy {
 public:
  const registry::Node* pick(std::span<const registry::Node* const> candidates, const PickHints&) override;
  const char* name() const override { return "least_connections"; }
};

}  // namespace cic::scheduler
