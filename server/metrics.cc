#include "metrics.h"

#include <sstream>

namespace imprint::server {
namespace {

// Seconds: from a cached hash match (~0.1 ms) to a slow 50 MP decode.
const std::vector<double> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                     0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5, 10};

}  // namespace

void Metrics::record_call(const std::string& method, const std::string& code, double seconds) {
  std::lock_guard<std::mutex> lk(mu_);
  ++calls_[{method, code}];
  Histogram& h = latency_[method];
  if (h.buckets.empty()) h.buckets.assign(kBounds.size(), 0);
  for (size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) ++h.buckets[i];
  }
  ++h.count;
  h.sum += seconds;
}

void Metrics::set_gauge(const std::string& name, const std::string& help, double value) {
  std::lock_guard<std::mutex> lk(mu_);
  gauges_[name] = {help, value};
}

void Metrics::add_to_counter(const std::string& name, const std::string& help, uint64_t n) {
  std::lock_guard<std::mutex> lk(mu_);
  auto& c = counters_[name];
  c.first = help;
  c.second += n;
}

std::string Metrics::exposition() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::ostringstream o;
  o << "# HELP imprint_calls_total Calls by method and gRPC status code.\n"
       "# TYPE imprint_calls_total counter\n";
  for (const auto& [key, n] : calls_) {
    o << "imprint_calls_total{method=\"" << key.first << "\",code=\"" << key.second << "\"} " << n << '\n';
  }
  o << "# HELP imprint_call_seconds Call latency by method.\n# TYPE imprint_call_seconds histogram\n";
  for (const auto& [method, h] : latency_) {
    for (size_t i = 0; i < kBounds.size(); ++i) {
      o << "imprint_call_seconds_bucket{method=\"" << method << "\",le=\"" << kBounds[i] << "\"} "
        << h.buckets[i] << '\n';
    }
    o << "imprint_call_seconds_bucket{method=\"" << method << "\",le=\"+Inf\"} " << h.count << '\n';
    o << "imprint_call_seconds_sum{method=\"" << method << "\"} " << h.sum << '\n';
    o << "imprint_call_seconds_count{method=\"" << method << "\"} " << h.count << '\n';
  }
  for (const auto& [name, g] : gauges_) {
    o << "# HELP " << name << ' ' << g.first << "\n# TYPE " << name << " gauge\n" << name << ' ' << g.second << '\n';
  }
  for (const auto& [name, c] : counters_) {
    o << "# HELP " << name << ' ' << c.first << "\n# TYPE " << name << " counter\n"
      << name << ' ' << c.second << '\n';
  }
  return o.str();
}

}  // namespace imprint::server
