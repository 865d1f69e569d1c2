// Internal: the on-disk form shared by the catalog's derived index files (pdq.index,
// frames.index). Layout, little-endian:
//   magic[8] | u32 version | u32 entry size | char[32] catalog id | i64 generation |
//   i64 max fingerprint pk | u64 count | count entries of `entry size` bytes |
//   u64 checksum of all preceding bytes
// Written to a temporary file, fsynced and renamed, so a crash leaves the old file or the new one.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "large_array.h"
#include "status.h"

namespace imprint::detail {

template <typename T>
void put(std::vector<uint8_t>& b, T v) {
  const size_t at = b.size();
  b.resize(at + sizeof(T));
  std::memcpy(b.data() + at, &v, sizeof(T));
}

template <typename T>
T get(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

struct DerivedFileHeader {
  std::string catalog_id;
  int64_t generation = 0;
  int64_t max_fp_pk = 0;
};

// A buffer holding the header for `count` entries; append the entries, then write it.
std::vector<uint8_t> begin_derived_file(const char magic[8], uint32_t entry_size,
                                        const DerivedFileHeader& header, uint64_t count);
// For a file whose entries are bytes (entry size 1) of a length known only once they are
// appended: sets the header's count to the bytes after the header. Call before writing.
void set_derived_byte_count(std::vector<uint8_t>& buffer);
// Appends the checksum and writes the buffer atomically.
Status write_derived_file(const std::string& path, std::vector<uint8_t>& buffer);

struct DerivedFile {
  DerivedFileHeader header;
  uint64_t count = 0;
  uint32_t entry_size = 0;
  LargeArray<uint8_t> bytes;  // the whole file, in huge pages where the kernel gives them
  const uint8_t* entry(uint64_t i) const;
};
// Reads and checks magic, version, entry size, size and checksum; `what` names the file in errors.
Result<DerivedFile> read_derived_file(const std::string& path, const char magic[8],
                                      uint32_t entry_size, const std::string& what);

}  // namespace imprint::detail
