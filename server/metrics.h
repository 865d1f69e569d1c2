// Server metrics in the Prometheus text format: calls by method and status code, latency
// histograms per method, and gauges set by the server (catalog size, calls in flight).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace imprint::server {

class Metrics {
 public:
  void record_call(const std::string& method, const std::string& code, double seconds);
  void set_gauge(const std::string& name, const std::string& help, double value);
  // Adds n to a counter (created at 0 with its help text on first use).
  void add_to_counter(const std::string& name, const std::string& help, uint64_t n);
  std::string exposition() const;  // text/plain; version=0.0.4

 private:
  struct Histogram {
    std::vector<uint64_t> buckets;  // cumulative counts per bound
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> calls_;
  std::map<std::string, Histogram> latency_;
  std::map<std::string, std::pair<std::string, double>> gauges_;
  std::map<std::string, std::pair<std::string, uint64_t>> counters_;
};

}  // namespace imprint::server
