// decode_image(): probe, check limits, dispatch to the format's decoder.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "decode_internal.h"

namespace imprint {

Result<Image> decode_image(std::span<const uint8_t> bytes, const DecodeOptions& o,
                           ImageInfo* info_out) {
  if (int64_t(bytes.size()) > o.max_bytes) {
    return resource_exhausted("input is " + std::to_string(bytes.size()) + " bytes, over the " +
                              std::to_string(o.max_bytes) + "-byte limit");
  }
  Result<ImageInfo> info = probe_image(bytes);
  if (!info.ok()) return info.status();
  if (info_out) *info_out = *info;
  const int64_t pixels = int64_t(info->width) * info->height;
  if (info->width <= 0 || info->height <= 0) {
    return invalid_argument(std::string(image_format_name(info->format)) +
                            " header declares an empty image");
  }
  if (pixels > o.max_pixels) {
    return resource_exhausted(
        std::string(image_format_name(info->format)) + " header declares " +
        std::to_string(info->width) + "x" + std::to_string(info->height) + " = " +
        std::to_string(pixels / 1'000'000) + " MP, over the limit of " +
        std::to_string(o.max_pixels / 1'000'000) + " MP (possible decompression bomb)");
  }
  Result<Image> img = [&]() -> Result<Image> {
    switch (info->format) {
      case ImageFormat::kJpeg: return detail::decode_jpeg(bytes, o, *info);
      case ImageFormat::kGif: return detail::decode_gif(bytes, o, *info);
      default: return detail::decode_with_opencv(bytes, o, *info);
    }
  }();
  if (!img.ok()) return img;
  // A decoder that disagrees with its own header is a decoder bug or a lying file: either way the
  // limit must hold for what was actually allocated.
  if (int64_t(img->width) * img->height > o.max_pixels) {
    return resource_exhausted("decoded image exceeds the pixel limit");
  }
  return img;
}

Result<std::vector<uint8_t>> read_file(const std::string& path, int64_t max_bytes) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever; the type
  // is checked before any read, and a regular file ignores the flag.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT) return not_found("no such file");
    return io_error(std::string("cannot open (") + std::strerror(e) + ")");
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return io_error(std::string("cannot stat (") + std::strerror(errno) + ")");
  if (S_ISDIR(st.st_mode)) return invalid_argument("is a directory");
  if (!S_ISREG(st.st_mode)) return invalid_argument("not a regular file");
  if (st.st_size > max_bytes) {
    return resource_exhausted("file is " + std::to_string(st.st_size) + " bytes, over the " +
                              std::to_string(max_bytes) + "-byte limit");
  }
  std::vector<uint8_t> data(size_t(st.st_size));
  size_t got = 0;
  while (got < data.size()) {
    const ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error(std::string("read failed (") + std::strerror(errno) + ")");
    if (n == 0) break;  // shrank while we read
    got += size_t(n);
  }
  data.resize(got);
  return data;
}

Result<Image> decode_file(const std::string& path, const DecodeOptions& o) {
  Result<std::vector<uint8_t>> bytes = read_file(path, o.max_bytes);
  if (!bytes.ok()) return bytes.status().with_context(path);
  Result<Image> img = decode_image(*bytes, o);
  if (!img.ok()) return img.status().with_context(path);
  return img;
}

}  // namespace imprint
