// Photos for benchmarks, cut from the Debian wallpaper packages gnome-backgrounds,
// mate-backgrounds and sway-backgrounds (installed by scripts/install-deps.sh). No photo is
// committed; every run cuts the same works from the same packages with a fixed seed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "image.h"

namespace imprint::bench {

struct SourcePhoto {
  std::string path;
  Image image;  // RGB, decoded at full size
  // Wide corpus (load_wide_sources): what kind of picture it is ("wallpaper", "painted",
  // "clipart", "stamp") and whether it is large enough to be cut into several works.
  std::string group = "wallpaper";
  bool tiled = true;
};

// Every wallpaper under /usr/share/backgrounds/{gnome,mate,sway} that is a usable photo (PDQ
// quality >= 50, shorter side >= 600 px), sorted by path. Exits with a message when the packages
// are missing.
std::vector<SourcePhoto> load_source_photos();

// Every picture of the eight packages the project may cut from, for an evaluation wider than the
// photos: gnome/mate/sway-backgrounds and desktop-base wallpapers and the debian-edu-artwork-*
// themes (under /usr/share/plymouth/themes and /usr/share/desktop-base), wesnoth-1.16-data's
// portraits and maps (painted art), openclipart-png (illustration) and tuxpaint-stamps-default.
// No quality filter: soft, flat and low-texture pictures stay at their natural rate. Transparent
// pixels are laid over white, as a sticker or clip art is shown. Sources with a shorter side of
// at least 1000 px (800 for wallpapers) are `tiled`; the rest give one work each. Every
// wallpaper, and at most `per_group` pictures of each other group, spread evenly over its sorted
// paths.
std::vector<SourcePhoto> load_wide_sources(size_t per_group);

// Which half of an evaluation a source belongs to: 0 tuning, 1 held-out. A function of the
// design (design_key), so every version of one picture falls in the same half.
int evaluation_half(const std::string& path);

// Whether a wallpaper is a photograph (MATE's nature set without its wood and blinds textures, and
// the elephants) rather than a pattern or a rendering. Periodic textures make PDQ unstable (a 5%
// brightening moves a stripe pattern's hash 44 bits) and tell us nothing about photos.
bool is_photograph(const std::string& path);

// The design a wallpaper shows, the same for its variants: GNOME's light and dark versions
// ("licorice-l", "licorice-d") and Sway's sizes and orientations share one. Two files with the
// same design are the same artwork, so neither is "unrelated" to the other.
std::string design_key(const std::string& path);

// A region of `src` (x, y, w, h in pixels) resized to out_w x out_h with area averaging.
Image cut(const Image& src, int x, int y, int w, int h, int out_w, int out_h);

// Resize keeping the aspect ratio so the area is about `megapixels`.
Image resize_to_area(const Image& src, double megapixels);

std::vector<uint8_t> encode_jpeg(const Image& image, int quality);
std::vector<uint8_t> encode_as(const Image& image, const std::string& ext, int quality = 90);

// "model name" from /proc/cpuinfo and the date, for benchmark headers.
std::string machine_description();

}  // namespace imprint::bench
