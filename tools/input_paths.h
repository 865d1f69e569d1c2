// Turning PATH arguments into the list of files a command works on.
//
// A file argument is taken as given. A directory is walked recursively in sorted order, keeping
// files whose extension names an image format; symlinks are followed, and a symlink that leads
// back into a directory being walked is reported as a loop instead of being walked forever. "-"
// reads one path per line from standard input. Problems become error entries in order, so a
// command reports them and carries on with the rest.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "status.h"

namespace imprint::cli {

struct InputPath {
  std::string path;
  Status error;  // ok for a file to process
};

// Calls `emit` for each input in order (streaming, so "-" over millions of lines stays flat).
void expand_inputs(const std::vector<std::string>& args, const std::function<void(InputPath)>& emit);

bool has_image_extension(const std::string& path);

}  // namespace imprint::cli
