#include "synthetic_works.h"

#include <cstring>

#include "photo_corpus.h"
#include "synthetic_hashes.h"

namespace imprint::bench {

std::vector<LocalFeatures> feature_sources(size_t n) {
  const std::vector<SourcePhoto> photos = load_source_photos();
  std::vector<const Image*> from;
  for (const SourcePhoto& p : photos) from.push_back(&p.image);
  return feature_sources(n, from);
}

std::vector<LocalFeatures> feature_sources(size_t n, const std::vector<const Image*>& from) {
  std::vector<LocalFeatures> out;
  std::mt19937_64 rng(11);
  for (size_t k = 0; out.size() < n && k < 4 * n; ++k) {
    const Image& p = *from[k % from.size()];
    const int w = int(p.width * std::uniform_real_distribution<double>(0.4, 0.9)(rng));
    const int h = int(p.height * std::uniform_real_distribution<double>(0.4, 0.9)(rng));
    const int x = int(rng() % uint64_t(p.width - w + 1)),
              y = int(rng() % uint64_t(p.height - h + 1));
    Image cut(w, h, p.channels);
    for (int r = 0; r < h; ++r) {
      std::memcpy(cut.row(r), p.row(y + r) + size_t(x) * p.channels, size_t(w) * p.channels);
    }
    LocalFeatures f = extract_local_features(cut, work_feature_options());
    if (!f.empty()) out.push_back(std::move(f));
  }
  return out;
}

WorkInput feature_work(size_t i, const std::vector<LocalFeatures>& sources, std::mt19937_64& rng) {
  WorkInput in;
  in.work.id = "w" + std::to_string(i);
  in.fingerprints.push_back(WorkFingerprint::pdq(balanced_hash(rng), 100));
  for (int k = 0; k < 4; ++k) {
    WorkFingerprint c = WorkFingerprint::pdq(balanced_hash(rng), 100);
    c.kind = kCropPdqKind;
    in.fingerprints.push_back(std::move(c));
  }
  LocalFeatures f = sources[rng() % sources.size()];
  for (size_t d = 0; d < f.size(); ++d) {
    uint8_t* code = f.descriptors.data() + d * kLocalDescriptorBytes;
    for (int b = 0; b < 40; ++b) {
      const uint64_t bit = rng() % 256;
      code[bit / 8] ^= uint8_t(1u << (bit % 8));
    }
  }
  WorkFingerprint lf;
  lf.kind = kLocalFeaturesKind;
  lf.data = encode_local_features(f);
  lf.quality = 100;
  in.fingerprints.push_back(std::move(lf));
  return in;
}

}  // namespace imprint::bench
