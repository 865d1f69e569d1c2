#include "image_query.h"

#include <algorithm>

#include "local_features.h"
#include "match_json.h"

namespace imprint {

ImageQueryInput ImageQueryInput::file(std::string path) {
  ImageQueryInput in;
  in.kind = Kind::kFile;
  in.path = std::move(path);
  return in;
}

ImageQueryInput ImageQueryInput::of_bytes(std::span<const uint8_t> bytes) {
  ImageQueryInput in;
  in.kind = Kind::kBytes;
  in.bytes = bytes;
  return in;
}

ImageQueryInput ImageQueryInput::of_pixels(const ImageView& pixels) {
  ImageQueryInput in;
  in.kind = Kind::kPixels;
  in.pixels = pixels;
  return in;
}

ImageQueryInput ImageQueryInput::of_hash(const PdqHash& hash, int quality) {
  ImageQueryInput in;
  in.kind = Kind::kHash;
  in.hash = hash;
  in.quality = quality;
  return in;
}

HashOptions query_hash_options() {
  HashOptions o;
  o.mode = HashMode::kExact;
  o.dihedral = true;
  return o;
}

Result<ImageFingerprint> fingerprint_input(const ImageQueryInput& in, const HashOptions& o) {
  return fingerprint_input(in, o, nullptr);
}

Result<ImageFingerprint> fingerprint_input(const ImageQueryInput& in, const HashOptions& o,
                                           Image* pixels) {
  switch (in.kind) {
    case ImageQueryInput::Kind::kFile:
      return fingerprint_file(in.path, o, pixels);
    case ImageQueryInput::Kind::kBytes:
      return fingerprint_image(in.bytes, o, pixels);
    case ImageQueryInput::Kind::kPixels:
      return fingerprint_pixels(in.pixels, o);
    case ImageQueryInput::Kind::kHash: {
      ImageFingerprint f;
      f.pdq = {in.hash, in.quality};
      return f;
    }
  }
  return internal_error("unknown query input kind");
}

namespace {

Result<Image> pixels_of(const ImageQueryInput& in, const DecodeOptions& d) {
  switch (in.kind) {
    case ImageQueryInput::Kind::kFile:
      return decode_file(in.path, d);
    case ImageQueryInput::Kind::kBytes:
      return decode_image(in.bytes, d);
    case ImageQueryInput::Kind::kPixels:
      return to_image(in.pixels);
    case ImageQueryInput::Kind::kHash:
      return not_found("a hash query has no pixels");
  }
  return internal_error("unknown query input kind");
}

}  // namespace

std::vector<ImageQueryOutcome> query_images(const Catalog& catalog,
                                            std::span<const ImageQueryInput> inputs,
                                            const ImageQueryOptions& options) {
  const HashOptions& ho = options.hash;
  std::vector<ImageQueryOutcome> out(inputs.size());
  // A batch of one (an upload to the server) keeps the pixels its fingerprint was decoded from
  // for the second stage: what a second decode would give, one decode fewer. A larger batch
  // decodes again, one query at a time, so that it never holds every query's pixels at once.
  Image kept;
  Image* keep = options.second_stage && inputs.size() == 1 ? &kept : nullptr;
  parallel_for(inputs.size(), options.threads,
               [&](size_t i) { out[i].fingerprint = fingerprint_input(inputs[i], ho, keep); });

  std::vector<ImageFingerprint> queries;
  std::vector<size_t> origin;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!out[i].fingerprint.ok()) continue;
    queries.push_back(*out[i].fingerprint);
    origin.push_back(i);
  }
  // The second stage needs the query's pixels; only queries PDQ leaves unsettled ask for them,
  // so only those of a larger batch are decoded a second time.
  QueryPixelSource pixels;
  if (options.second_stage) {
    pixels = [&](size_t k) -> Result<Image> {
      if (!kept.empty()) return std::move(kept);
      return pixels_of(inputs[origin[k]], ho.decode);
    };
  }
  std::vector<QueryResult> results = catalog.match(queries, options.match, pixels);
  std::vector<VideoQueryResult> frames =
      options.video_frames ? catalog.match_stills_in_videos(queries, options.match)
                           : std::vector<VideoQueryResult>(queries.size());
  for (size_t k = 0; k < queries.size(); ++k) {
    out[origin[k]].result = std::move(results[k]);
    out[origin[k]].frames = std::move(frames[k]);
  }
  return out;
}

nlohmann::json image_query_to_json(const std::string& label, const ImageQueryOutcome& outcome,
                                   int top_k) {
  nlohmann::json j = query_result_to_json(label, *outcome.fingerprint, outcome.result);
  const VideoQueryResult& frames = outcome.frames;
  if (frames.matches.empty()) return j;
  nlohmann::json& m = j["matches"];
  for (const VideoCandidate& c : frames.matches) m.push_back(video_candidate_to_json(c));
  std::stable_sort(m.begin(), m.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    const bool ea = a["method"] == "sha256", eb = b["method"] == "sha256";
    if (ea != eb) return ea;
    return a["score"].get<double>() > b["score"].get<double>();
  });
  while (int(m.size()) > std::max(0, top_k)) m.erase(m.end() - 1);
  MatchDecision overall = MatchDecision::kNone;
  for (const auto& e : m) {
    for (MatchDecision d : {MatchDecision::kReview, MatchDecision::kAllow, MatchDecision::kFlag}) {
      if (e["decision"] == decision_name(d) && decision_severity(d) > decision_severity(overall)) {
        overall = d;
      }
    }
  }
  j["decision"] = decision_name(overall);
  return j;
}

}  // namespace imprint
