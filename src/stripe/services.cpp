#include "cic/stripe/services.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include "cic/stripe/alerts.hpp"
#include "cic/stripe/client.hpp"
#include "cic/stripe/reporter.hpp"
#include "cic/stripe/webhook.hpp"
#include "cic/common/periodic_task.hpp"

namespace cic::stripe {
namespace {

/// A counter family whose label values are created up front, so every series shows (at 0)
/// before its first event.
class CounterSet {
 public:
  CounterSet(prometheus::Registry& registry, const std::string& name, const std::string& help,
             const std::string& label, std::initializer_list<const char*> values)
      : family_(prometheus::BuildCounter().Name(name).Help(help).Register(registry)), label_(label) {
    for (const char* v : values) family_.Add({{label_, v}});
  }
  void increment(std::string_view value) { family_.Add({{label_, std::string(value)}}).Increment(); }

 private:
  prometheus::Family<prometheus::Counter>& family_;
  std::string label_;
};

RetryPolicy retry_policy(unsigned attempts, std::chrono::milliseconds base, std::chrono::milliseconds max) {
  return RetryPolicy{attempts, base, max};
}

}  // namespace

struct StripeServices::Impl {
  Impl(const config::Config& config, store::Store& store, const Clock& clock, prometheus::Registry& registry)
      : config(config),
        store(store),
        clock(clock),
        reports(registry, "cic_stripe_reports_total", "Meter events sent to Stripe, by outcome", "outcome",
                {"accepted", "duplicate", "rejected", "failed"}),
        lag(prometheus::BuildGauge()
                .Name("cic_stripe_report_lag_seconds")
                .Help("Seconds since the end of the oldest closed hour whose usage Stripe does not hold yet")
                .Register(registry)
                .Add({})),
        webhooks(registry, "cic_stripe_webhooks_total", "Stripe webhook calls, by outcome", "outcome",
                 {"recorded", "duplicate", "ignored", "bad_signature", "bad_request", "store_error"}),
        alerts(registry, "cic_alerts_total", "Alerts fired, by kind", "kind",
               {"budget_80", "budget_100", "spend_spike", "credit_expiring", "payment_failed"}),
        deliveries(registry, "cic_alert_deliveries_total", "Alert webhook deliveries, by outcome", "outcome",
                   {"delivered", "failed"}),
        transport(make_http_transport()),
        usage(billing::make_store_usage_source(store)),
        webhook(store, clock,
                WebhookOptions{config.stripe.webhook_secret, config.stripe.webhook_tolerance.count() / 1000},
                [this](std::string_view outcome) { webhooks.increment(outcome); }) {
    const auto& s = config.stripe;
    if (s.enabled()) {
      reporter_task = std::make_unique<PeriodicTask>("stripe reporter", s.report_interval, [this] {
        reporter->run_once(this->clock.unix_millis());
      });
      ClientOptions options{s.api_base, s.api_key, s.timeout,
                            retry_policy(s.max_attempts, s.retry_backoff_base, s.retry_backoff_max)};
      client = std::make_unique<StripeClient>(*transport, std::move(options),
                                              [this](auto pause) { return reporter_task->sleep_for(pause); });
      ReporterOptions r;
      r.meter_event_name = s.meter_event_name;
      r.close_delay = s.close_delay;
      r.report_open_hours = s.report_open_hours;
      r.lookback_hours = s.lookback_hours;
      reporter = std::make_unique<UsageReporter>(
          store, *usage, *client, r,
          ReporterHooks{[this](std::string_view outcome) { reports.increment(outcome); },
                        [this](double seconds) { lag.Set(seconds); }});
    }
    const auto& a = config.alerts;
    if (a.enabled()) {
      alert_task = std::make_unique<PeriodicTask>("alerts", a.interval, [this] {
        alert_engine->run_once(this->clock.unix_millis());
      });
      AlertOptions options;
      options.webhook_url = a.webhook_url;
      options.webhook_secret = a.webhook_secret;
      options.timeout = a.timeout;
      options.retry = retry_policy(a.max_attempts, a.retry_backoff_base, a.retry_backoff_max);
      options.policy.spike_factor = a.spike_factor;
      options.policy.spike_min_micros = a.spike_min_micros;
      options.policy.trailing_days = a.spike_trailing_days;
      options.policy.credit_expiry_window = std::chrono::hours(24) * a.credit_expiry_days;
      alert_engine = std::make_unique<AlertEngine>(
          store, *usage, config.models, *transport, std::move(options),
          [this](auto pause) { return alert_task->sleep_for(pause); },
          AlertHooks{[this](std::string_view kind) { alerts.increment(kind); },
                     [this](std::string_view outcome) { deliveries.increment(outcome); }});
    }
  }

  const config::Config& config;
  store::Store& store;
  const Clock& clock;
  CounterSet reports;
  prometheus::Gauge& lag;
  CounterSet webhooks;
  CounterSet alerts;
  CounterSet deliveries;
  std::unique_ptr<HttpTransport> transport;
  std::unique_ptr<billing::UsageSource> usage;
  WebhookReceiver webhook;
  // Tasks are declared after what their passes use and stopped explicitly before teardown.
  std::unique_ptr<StripeClient> client;
  std::unique_ptr<UsageReporter> reporter;
  std::unique_ptr<AlertEngine> alert_engine;
  std::unique_ptr<PeriodicTask> reporter_task;
  std::unique_ptr<PeriodicTask> alert_task;
};

StripeServices::StripeServices(const config::Config& config, store::Store& store, const Clock& clock,
                               prometheus::Registry& registry)
    : impl_(std::make_unique<Impl>(config, store, clock, registry)) {}

StripeServices::~StripeServices() { stop(); }

void StripeServices::start() {
  const auto& s = impl_->config.stripe;
  if (impl_->reporter_task) {
    spdlog::info("stripe: reporting meter {} to {} every {} ms", s.meter_event_name, s.api_base,
                 s.report_interval.count());
    impl_->reporter_task->start();
  }
  if (impl_->alert_task) {
    spdlog::info("alerts: evaluated every {} ms", impl_->config.alerts.interval.count());
    impl_->alert_task->start();
  }
}

void StripeServices::stop() {
  if (impl_->reporter_task) impl_->reporter_task->stop();
  if (impl_->alert_task) impl_->alert_task->stop();
}

bool StripeServices::webhook_enabled() const { return impl_->webhook.enabled(); }

HttpReply StripeServices::handle_webhook(const HttpCall& call) {
  return impl_->webhook.handle(call.method, call.authorization, call.body);
}

}  // namespace cic::stripe
