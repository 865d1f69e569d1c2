// libFuzzer target: a WebDataset tar shard (members, sidecars, groups by key) read by the scan's
// unit reader. The bytes are written to a file because the reader takes paths, as the scan does.
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "scan_sources.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = [] {
    char name[] = "/tmp/imprint-fuzz-tar-XXXXXX";
    const int fd = mkstemp(name);
    if (fd >= 0) close(fd);
    return std::string(name);
  }();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  imprint::cli::ScanUnit unit;
  unit.name = path;
  unit.kind = imprint::cli::SourceKind::kTar;
  unit.tar_path = path;
  imprint::cli::ReadLimits limits;
  limits.max_member_bytes = 1 << 20;
  limits.max_sidecar_bytes = 64 << 10;
  std::atomic<bool> stop{false};
  size_t samples = 0;
  (void)imprint::cli::read_unit(
      unit, limits,
      [&](imprint::cli::Sample&& s) {
        ++samples;
        if (s.bytes.size() > size_t(limits.max_member_bytes)) __builtin_trap();
      },
      stop, nullptr);
  return 0;
}
