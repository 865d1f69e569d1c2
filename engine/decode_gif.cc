// GIF, first frame, through giflib: drawn on its logical screen, transparency over white.
#include <gif_lib.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "decode_internal.h"

namespace imprint::detail {
namespace {

struct Reader {
  std::span<const uint8_t> bytes;
  size_t at = 0;
};

int read_bytes(GifFileType* gif, GifByteType* out, int n) {
  auto* r = static_cast<Reader*>(gif->UserData);
  const size_t k = std::min<size_t>(size_t(std::max(n, 0)), r->bytes.size() - r->at);
  std::memcpy(out, r->bytes.data() + r->at, k);
  r->at += k;
  return int(k);
}

struct GifCloser {
  void operator()(GifFileType* g) const {
    int err = 0;
    DGifCloseFile(g, &err);
  }
};

Status gif_error(int code) {
  const char* s = GifErrorString(code);
  return invalid_argument(std::string("corrupt or truncated GIF data (") + (s ? s : "?") + ")");
}

}  // namespace

Result<Image> decode_gif(std::span<const uint8_t> b, const DecodeOptions& o, const ImageInfo& info) {
  Reader reader{b};
  int err = 0;
  std::unique_ptr<GifFileType, GifCloser> gif(DGifOpen(&reader, read_bytes, &err));
  if (!gif) return gif_error(err);
  const int sw = gif->SWidth, sh = gif->SHeight;
  if (sw <= 0 || sh <= 0) return invalid_argument("GIF declares an empty screen");

  int transparent = -1;
  GifRecordType type;
  do {
    if (DGifGetRecordType(gif.get(), &type) == GIF_ERROR) return gif_error(gif->Error);
    if (type == EXTENSION_RECORD_TYPE) {
      int code = 0;
      GifByteType* ext = nullptr;
      if (DGifGetExtension(gif.get(), &code, &ext) == GIF_ERROR) return gif_error(gif->Error);
      if (code == GRAPHICS_EXT_FUNC_CODE && ext) {
        GraphicsControlBlock gcb;
        if (DGifExtensionToGCB(ext[0], ext + 1, &gcb) == GIF_OK) transparent = gcb.TransparentColor;
      }
      while (ext) {
        if (DGifGetExtensionNext(gif.get(), &ext) == GIF_ERROR) return gif_error(gif->Error);
      }
    } else if (type == TERMINATE_RECORD_TYPE) {
      return invalid_argument("GIF holds no image");
    }
  } while (type != IMAGE_DESC_RECORD_TYPE);

  if (DGifGetImageDesc(gif.get()) == GIF_ERROR) return gif_error(gif->Error);
  const GifImageDesc& desc = gif->Image;
  const int fw = desc.Width, fh = desc.Height;
  if (fw <= 0 || fh <= 0) return invalid_argument("GIF frame is empty");
  if (int64_t(fw) * fh > o.max_pixels) {
    return resource_exhausted("GIF frame is " + std::to_string(fw) + "x" + std::to_string(fh) +
                              ", over the pixel limit");
  }
  const ColorMapObject* cmap = desc.ColorMap ? desc.ColorMap : gif->SColorMap;
  if (!cmap) return invalid_argument("GIF has no colour map");

  std::vector<GifPixelType> line(fw);
  std::vector<GifPixelType> frame(size_t(fw) * fh);
  // Interlaced frames store rows in four passes: 0,8,16..; 4,12..; 2,6..; 1,3...
  std::vector<int> order;
  if (desc.Interlace) {
    for (int start : {0, 4, 2, 1}) {
      for (int y = start; y < fh; y += (start == 0 ? 8 : start == 4 ? 8 : start == 2 ? 4 : 2)) {
        order.push_back(y);
      }
    }
  } else {
    for (int y = 0; y < fh; ++y) order.push_back(y);
  }
  for (int y : order) {
    if (DGifGetLine(gif.get(), frame.data() + size_t(y) * fw, fw) == GIF_ERROR) {
      return gif_error(gif->Error);
    }
  }

  Image img(sw, sh, 3);
  std::fill(img.pixels.begin(), img.pixels.end(), 255);
  for (int y = 0; y < fh; ++y) {
    const int cy = desc.Top + y;
    if (cy < 0 || cy >= sh) continue;
    for (int x = 0; x < fw; ++x) {
      const int cx = desc.Left + x;
      if (cx < 0 || cx >= sw) continue;
      const int idx = frame[size_t(y) * fw + x];
      if (idx == transparent && o.alpha == AlphaMode::kCompositeWhite) continue;
      if (idx >= cmap->ColorCount) continue;
      const GifColorType& c = cmap->Colors[idx];
      uint8_t* d = img.row(cy) + size_t(cx) * 3;
      d[0] = c.Red;
      d[1] = c.Green;
      d[2] = c.Blue;
    }
  }
  return img;
}

}  // namespace imprint::detail
