// libFuzzer target: gRPC request messages as a hostile client sends them, parsed as each request
// type and put through the server's field checks (request_checks.h). Checks answer a status for
// anything; what they accept must be within the limits they state.
#include <cstddef>
#include <cstdint>

#include "imprint/v1/imprint.pb.h"
#include "request_checks.h"

using namespace imprint::server;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace v1 = imprint::v1;
  {
    v1::RegisterWorkRequest req;
    if (req.ParseFromArray(data, int(size)) && check_work(req.work()).ok()) {
      if (req.work().work_id().size() > FieldLimits::kWorkId) __builtin_trap();
    }
  }
  {
    v1::MatchImageRequest req;
    if (req.ParseFromArray(data, int(size))) (void)check_match_context(req.context());
  }
  {
    v1::MatchHashRequest req;
    if (req.ParseFromArray(data, int(size))) {
      (void)check_match_context(req.context());
      if (check_quality("quality", req.quality()).ok() &&
          (req.quality() < 0 || req.quality() > 100)) {
        __builtin_trap();
      }
    }
  }
  {
    v1::ListUsageRequest req;
    if (req.ParseFromArray(data, int(size))) {
      (void)check_limit("limit", req.limit());
      (void)check_text("work_id", req.work_id(), FieldLimits::kWorkId);
    }
  }
  return 0;
}
