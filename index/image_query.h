// Image queries as `imprint query` runs them, for every front end that asks the same question
// (the command line, the Python module): fingerprint each input, match the batch against the
// catalog, give the second stage the query's pixels when it asks for them, and write the answer
// in the `imprint query --json` contract (match_json.h).
//
// An input is a file, image bytes, decoded pixels or a precomputed PDQ hash. Files, bytes and
// pixels are hashed as the options' HashOptions say (by default exact mode with the 8 dihedral
// variants); a hash has no variants and the quality its sender gives (100 unless told). The
// second stage gets the pixels of the queries PDQ leaves unsettled: a batch of one keeps those
// its fingerprint was decoded from (exact mode), a larger one decodes a file or bytes a second
// time (within the same decode limits).
//
// This is the one path from a query image to a decision: `imprint query`, `imprint scan`, the
// server's MatchImage, MatchStream and HTTP match, and the Python module all call it, so for the
// same bytes and options they give the same matches and decisions.
//
// Thread safety: query_images() may run on several threads at once against one catalog; the
// inputs' buffers must outlive the call.
#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "catalog.h"
#include "image_view.h"
#include "video_match.h"

namespace imprint {

struct ImageQueryInput {
  enum class Kind { kFile, kBytes, kPixels, kHash };
  Kind kind = Kind::kFile;
  std::string path;                // kFile
  std::span<const uint8_t> bytes;  // kBytes
  ImageView pixels;                // kPixels
  PdqHash hash;                    // kHash
  int quality = 100;               // kHash: the quality its sender computed

  static ImageQueryInput file(std::string path);
  static ImageQueryInput of_bytes(std::span<const uint8_t> bytes);
  static ImageQueryInput of_pixels(const ImageView& pixels);
  static ImageQueryInput of_hash(const PdqHash& hash, int quality = 100);
};

// `imprint query`'s hashing: exact mode (interoperable hashes) with the 8 dihedral variants.
HashOptions query_hash_options();

struct ImageQueryOptions {
  MatchOptions match;
  HashOptions hash = query_hash_options();  // also the decode limits of the second stage
  int threads = 0;                          // hashing threads; 0: one per core
  // The second stage (second_stage.h) for the queries PDQ leaves unsettled: crops, screenshots,
  // collages, pictures in pictures. Off: PDQ and identical bytes only (faster, finds less).
  bool second_stage = true;
  // Also match against the frames of video works (frame grabs, thumbnails; video_index.h says
  // why not always), merged with the image matches by score.
  bool video_frames = false;
};

struct ImageQueryOutcome {
  // The query's fingerprint, or why the input could not be hashed (then nothing else is set).
  Result<ImageFingerprint> fingerprint = internal_error("not processed");
  QueryResult result;
  VideoQueryResult frames;  // with ImageQueryOptions::video_frames
};

// The fingerprint of one input as query_images makes it (a hash becomes a fingerprint of
// its quality without dihedral variants).
Result<ImageFingerprint> fingerprint_input(const ImageQueryInput& in, const HashOptions& o);
// The same, and for a file or bytes hashed in exact mode the decoded pixels into *pixels
// (fingerprint_image); otherwise *pixels is left empty.
Result<ImageFingerprint> fingerprint_input(const ImageQueryInput& in, const HashOptions& o,
                                           Image* pixels);

// One outcome per input, in input order.
std::vector<ImageQueryOutcome> query_images(const Catalog& catalog,
                                            std::span<const ImageQueryInput> inputs,
                                            const ImageQueryOptions& options);

// The `imprint query --json` object of a hashed query: query_result_to_json, with its matches
// among video frames (video_frames) merged in by score, cut to top_k, and the decision of them
// all. `label` is what the "path" field shows.
nlohmann::json image_query_to_json(const std::string& label, const ImageQueryOutcome& outcome,
                                   int top_k);

}  // namespace imprint
