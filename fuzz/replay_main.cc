// A libFuzzer target's entry point run once on every file named, or on every file in every folder
// named, in a build without libFuzzer (gcc, any sanitizer): the test command replays the seeds
// and every input a fuzzing run has found (fuzz/seeds/TARGET/) this way, so a parser that starts
// crashing on one of them fails CI without clang's instrumented build. The bounded fuzzing itself
// is scripts/fuzz.sh. Exits 0 when every input ran, 1 when none was found, 2 on a bad argument;
// a crash is the target's own (abort, trap, sanitizer report).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

bool run_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return false;
  // A buffer of exactly the input's size, as libFuzzer hands the target.
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  size_t ran = 0;
  for (int i = 1; i < argc; ++i) {
    const fs::path arg(argv[i]);
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      std::vector<fs::path> files;
      for (const auto& e : fs::recursive_directory_iterator(arg, ec)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());  // the same order on every machine
      for (const fs::path& f : files) ran += run_file(f);
    } else if (fs::is_regular_file(arg, ec)) {
      ran += run_file(arg);
    } else {
      std::fprintf(stderr, "%s: no such file or folder\n", argv[i]);
      return 2;
    }
  }
  std::printf("%zu inputs ran\n", ran);
  return ran > 0 ? 0 : 1;
}
