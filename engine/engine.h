// imprint engine: pixels to fingerprints. The one header other libraries include.
//
// The engine decodes images (and, later, video) and computes fingerprints. It knows nothing of
// storage or transport: index/ keeps fingerprints, server/ and tools/ move bytes.
#pragma once

#include "decode.h"       // decode_image, decode_file, probe_image, DecodeOptions
#include "fingerprint.h"  // fingerprint_image/file/files, HashOptions, HashMode, sha256_of
#include "image.h"        // Image
#include "parallel.h"     // parallel_for
#include "pdq.h"          // PdqHash, pdq_hash, pdq_dihedral
#include "process_memory.h"  // retain_freed_memory
#include "status.h"       // Status, Result<T>
