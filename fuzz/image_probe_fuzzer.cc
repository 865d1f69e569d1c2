// libFuzzer target: the image header probe (format sniffing and the size each decoder will use)
// on hostile bytes. It must answer a Result for anything, never crash, hang or allocate by what a
// header claims. Built by -DIMPRINT_FUZZ=ON with clang (scripts/fuzz.sh).
#include <cstddef>
#include <cstdint>
#include <span>

#include "decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  (void)imprint::sniff_image_format(bytes);
  imprint::Result<imprint::ImageInfo> info = imprint::probe_image(bytes);
  if (info.ok() && (info->width <= 0 || info->height <= 0)) __builtin_trap();  // a size is > 0
  (void)imprint::exif_orientation(bytes);
  return 0;
}
