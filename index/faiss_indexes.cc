// FAISS's binary indexes behind our interface: the peers our own structures are measured against.
// FAISS numbers entries 0..n-1 in insertion order; we keep the label of each and mark removals
// dead (IndexBinaryMultiHash cannot remove).
#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexBinaryHash.h>
#include <faiss/impl/AuxIndexStructures.h>

#include <algorithm>
#include <unordered_map>

#include "index_internal.h"

namespace imprint::detail {
namespace {

template <typename FaissIndex>
class FaissIndexAdapter : public FingerprintIndex {
 public:
  FaissIndexAdapter(IndexKind kind, std::unique_ptr<FaissIndex> index)
      : kind_(kind), index_(std::move(index)) {}

  IndexKind kind() const override { return kind_; }

  void add(std::span<const PdqHash> hashes, std::span<const int64_t> labels) override {
    std::vector<uint8_t> codes(hashes.size() * 32);
    for (size_t i = 0; i < hashes.size(); ++i) {
      const auto b = hashes[i].to_bytes();
      std::copy(b.begin(), b.end(), codes.begin() + i * 32);
      position_of_[labels[i]] = labels_.size();
      labels_.push_back(labels[i]);
      dead_.push_back(0);
    }
    index_->add(faiss::Index::idx_t(hashes.size()), codes.data());
    live_ += hashes.size();
  }

  void remove(std::span<const int64_t> labels) override {
    for (int64_t l : labels) {
      auto it = position_of_.find(l);
      if (it == position_of_.end() || dead_[it->second]) continue;
      dead_[it->second] = 1;
      --live_;
    }
  }

  std::vector<std::vector<Neighbor>> search_radius(std::span<const PdqHash> queries,
                                                   int radius) const override {
    std::vector<std::vector<Neighbor>> out(queries.size());
    if (labels_.empty()) return out;
    std::vector<uint8_t> codes(queries.size() * 32);
    for (size_t i = 0; i < queries.size(); ++i) {
      const auto b = queries[i].to_bytes();
      std::copy(b.begin(), b.end(), codes.begin() + i * 32);
    }
    configure_for_radius(radius);
    faiss::RangeSearchResult res(faiss::Index::idx_t(queries.size()));
    // FAISS returns distances strictly below its radius argument.
    index_->range_search(faiss::Index::idx_t(queries.size()), codes.data(), radius + 1, &res);
    for (size_t q = 0; q < queries.size(); ++q) {
      for (size_t k = res.lims[q]; k < res.lims[q + 1]; ++k) {
        const size_t pos = size_t(res.labels[k]);
        if (!dead_[pos]) out[q].push_back({labels_[pos], int(res.distances[k])});
      }
    }
    return out;
  }

  size_t size() const override { return live_; }
  size_t memory_bytes() const override {
    size_t extra = labels_.capacity() * 8 + dead_.capacity() + position_of_.size() * 32;
    if constexpr (std::is_same_v<FaissIndex, faiss::IndexBinaryMultiHash>) {
      extra += index_->hashtable_size() * 8 + size_t(index_->nhash) * 64 * 1024;
      extra += index_->storage->xb.capacity();
    } else {
      extra += index_->xb.capacity();
    }
    return extra;
  }
  void for_each(const std::function<void(const PdqHash&, int64_t)>& fn) const override {
    const uint8_t* xb = nullptr;
    if constexpr (std::is_same_v<FaissIndex, faiss::IndexBinaryMultiHash>) {
      xb = index_->storage->xb.data();
    } else {
      xb = index_->xb.data();
    }
    for (size_t i = 0; i < labels_.size(); ++i) {
      if (!dead_[i]) fn(PdqHash::from_bytes(xb + i * 32), labels_[i]);
    }
  }

 private:
  void configure_for_radius(int radius) const {
    if constexpr (std::is_same_v<FaissIndex, faiss::IndexBinaryMultiHash>) {
      // Same pigeonhole as ours: 16 tables of 16 bits, radius / 16 flips per table is exact.
      index_->nflip = radius / 16;
    }
  }

  IndexKind kind_;
  std::unique_ptr<FaissIndex> index_;
  std::vector<int64_t> labels_;
  std::vector<uint8_t> dead_;
  std::unordered_map<int64_t, size_t> position_of_;
  size_t live_ = 0;
};

}  // namespace

std::unique_ptr<FingerprintIndex> make_faiss_flat_index() {
  return std::make_unique<FaissIndexAdapter<faiss::IndexBinaryFlat>>(
      IndexKind::kFaissFlat, std::make_unique<faiss::IndexBinaryFlat>(256));
}

std::unique_ptr<FingerprintIndex> make_faiss_mih_index() {
  return std::make_unique<FaissIndexAdapter<faiss::IndexBinaryMultiHash>>(
      IndexKind::kFaissMih, std::make_unique<faiss::IndexBinaryMultiHash>(256, 16, 16));
}

}  // namespace imprint::detail
