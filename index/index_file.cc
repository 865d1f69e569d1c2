// pdq.index: the derived PDQ index on disk. Layout (little-endian):
//   "IMPRINTI" | u32 version | u32 entry size | char[32] catalog id | i64 generation |
//   i64 max fingerprint pk | u64 count | count x {32-byte hash, i64 fingerprint pk, i64 work pk}
//   | u64 checksum of all preceding bytes
// Written to a temporary file, fsynced and renamed, so a crash leaves the old file or the new one.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "catalog_impl.h"

namespace imprint {
namespace {

constexpr char kMagic[8] = {'I', 'M', 'P', 'R', 'I', 'N', 'T', 'I'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kEntrySize = 48;
constexpr size_t kHeaderSize = 8 + 4 + 4 + 32 + 8 + 8 + 8;

// A 64-bit checksum over 8-byte words (multiply-xorshift); catches torn and corrupted files.
uint64_t checksum(const uint8_t* p, size_t n) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  for (; i < n; ++i) h = (h ^ p[i]) * 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 29);
}

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

}  // namespace

Status write_index_file(const std::string& path, const IndexFileContents& c) {
  std::vector<uint8_t> b;
  b.reserve(kHeaderSize + c.hashes.size() * kEntrySize + 8);
  b.insert(b.end(), kMagic, kMagic + 8);
  put<uint32_t>(b, kVersion);
  put<uint32_t>(b, kEntrySize);
  char id[32] = {};
  std::memcpy(id, c.catalog_id.data(), std::min<size_t>(32, c.catalog_id.size()));
  b.insert(b.end(), id, id + 32);
  put<int64_t>(b, c.generation);
  put<int64_t>(b, c.max_fp_pk);
  put<uint64_t>(b, c.hashes.size());
  for (size_t i = 0; i < c.hashes.size(); ++i) {
    const auto h = c.hashes[i].to_bytes();
    b.insert(b.end(), h.begin(), h.end());
    put<int64_t>(b, c.fp_pks[i]);
    put<int64_t>(b, c.work_pks[i]);
  }
  put<uint64_t>(b, checksum(b.data(), b.size()));

  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("cannot write " + tmp + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < b.size()) {
    const ssize_t n = ::write(fd, b.data() + done, b.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string err = std::strerror(errno);
      ::close(fd);
      return io_error("cannot write " + tmp + ": " + err);
    }
    done += size_t(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return io_error("cannot sync " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return io_error("cannot rename " + tmp + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

Result<IndexFileContents> read_index_file(const std::string& path) {
  Result<std::vector<uint8_t>> bytes = read_file(path, int64_t(1) << 40);
  if (!bytes.ok()) return bytes.status();
  const std::vector<uint8_t>& b = *bytes;
  if (b.size() < kHeaderSize + 8 || std::memcmp(b.data(), kMagic, 8) != 0) {
    return corruption("not an imprint index file");
  }
  if (get<uint32_t>(b.data() + 8) != kVersion || get<uint32_t>(b.data() + 12) != kEntrySize) {
    return corruption("index file version not supported");
  }
  if (checksum(b.data(), b.size() - 8) != get<uint64_t>(b.data() + b.size() - 8)) {
    return corruption("index file checksum mismatch");
  }
  IndexFileContents c;
  const char* id = reinterpret_cast<const char*>(b.data() + 16);
  c.catalog_id.assign(id, strnlen(id, 32));
  c.generation = get<int64_t>(b.data() + 48);
  c.max_fp_pk = get<int64_t>(b.data() + 56);
  const uint64_t n = get<uint64_t>(b.data() + 64);
  if (kHeaderSize + n * kEntrySize + 8 != b.size()) return corruption("index file size mismatch");
  c.hashes.reserve(n);
  c.fp_pks.reserve(n);
  c.work_pks.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    const uint8_t* e = b.data() + kHeaderSize + i * kEntrySize;
    c.hashes.push_back(PdqHash::from_bytes(e));
    c.fp_pks.push_back(get<int64_t>(e + 32));
    c.work_pks.push_back(get<int64_t>(e + 40));
  }
  return c;
}

}  // namespace imprint
