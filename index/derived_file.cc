#include "derived_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include "decode.h"

namespace imprint::detail {
namespace {

constexpr uint32_t kVersion = 1;
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

}  // namespace

std::vector<uint8_t> begin_derived_file(const char magic[8], uint32_t entry_size,
                                        const DerivedFileHeader& header, uint64_t count) {
  std::vector<uint8_t> b;
  b.reserve(kHeaderSize + count * entry_size + 8);
  uint64_t magic_bytes;  // copied whole: the same 8 bytes, and no false bounds warning from GCC 12
  std::memcpy(&magic_bytes, magic, 8);
  put<uint64_t>(b, magic_bytes);
  put<uint32_t>(b, kVersion);
  put<uint32_t>(b, entry_size);
  std::array<char, 32> id{};
  std::memcpy(id.data(), header.catalog_id.data(), std::min<size_t>(32, header.catalog_id.size()));
  put(b, id);
  put<int64_t>(b, header.generation);
  put<int64_t>(b, header.max_fp_pk);
  put<uint64_t>(b, count);
  return b;
}

void set_derived_byte_count(std::vector<uint8_t>& b) {
  const uint64_t count = b.size() - kHeaderSize;
  std::memcpy(b.data() + 64, &count, sizeof(count));
}

Status write_derived_file(const std::string& path, std::vector<uint8_t>& b) {
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

const uint8_t* DerivedFile::entry(uint64_t i) const {
  return bytes.data() + kHeaderSize + i * entry_size;
}

Result<DerivedFile> read_derived_file(const std::string& path, const char magic[8],
                                      uint32_t entry_size, const std::string& what) {
  DerivedFile f;
  {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
      return errno == ENOENT ? not_found(what + " file " + path + " does not exist")
                             : io_error("cannot open " + path + ": " + std::strerror(errno));
    }
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      return io_error(path + " is not a regular file");
    }
    f.bytes.resize(size_t(st.st_size));
    size_t got = 0;
    while (got < f.bytes.size()) {
      const ssize_t n = ::read(fd, f.bytes.data() + got, f.bytes.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return io_error("cannot read " + path + ": " + std::strerror(errno));
      if (n == 0) break;  // shrank while we read: the size checks below refuse it
      got += size_t(n);
    }
    f.bytes.resize(got);
  }
  const LargeArray<uint8_t>& b = f.bytes;
  if (b.size() < kHeaderSize + 8 || std::memcmp(b.data(), magic, 8) != 0) {
    return corruption("not an imprint " + what + " file");
  }
  if (get<uint32_t>(b.data() + 8) != kVersion || get<uint32_t>(b.data() + 12) != entry_size) {
    return corruption(what + " file version not supported");
  }
  if (checksum(b.data(), b.size() - 8) != get<uint64_t>(b.data() + b.size() - 8)) {
    return corruption(what + " file checksum mismatch");
  }
  const char* id = reinterpret_cast<const char*>(b.data() + 16);
  f.header.catalog_id.assign(id, strnlen(id, 32));
  f.header.generation = get<int64_t>(b.data() + 48);
  f.header.max_fp_pk = get<int64_t>(b.data() + 56);
  f.count = get<uint64_t>(b.data() + 64);
  f.entry_size = entry_size;
  if (f.count > (b.size() - kHeaderSize - 8) / entry_size ||
      kHeaderSize + f.count * entry_size + 8 != b.size()) {
    return corruption(what + " file size mismatch");
  }
  return f;
}

}  // namespace imprint::detail
