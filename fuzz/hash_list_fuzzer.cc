// libFuzzer target: hash lists from the field (ThreatExchange CSV, pytx CSV, vPDQ, plain hex,
// mapped columns), read row by row until the reader stops. Rows may fail; the reader may not.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "hash_list.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The first byte picks whether a column mapping is given, as `import-hashes --columns` does.
  const bool mapped = size > 0 && (data[0] & 1);
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  std::optional<imprint::HashListColumns> columns;
  if (mapped) {
    auto c = imprint::parse_hash_list_columns("hash=1,quality=2,id=3");
    if (c.ok()) columns = *c;
  }
  imprint::HashListReader reader(in, "fuzz.csv", columns);
  imprint::HashListRow row;
  int64_t rows = 0;
  while (reader.next(&row)) {
    if (row.outcome == imprint::HashListRow::Outcome::kEntry) {
      if (row.entry.quality < 0 || row.entry.quality > 100) __builtin_trap();
      (void)row.entry.hash.to_hex();
    }
    if (++rows > 1'000'000) break;
  }
  return 0;
}
