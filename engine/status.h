// imprint::Status and imprint::Result<T>: how every imprint library reports failure.
//
// Errors are values, never exceptions across a library boundary. A Status carries a code that
// callers branch on and a message written for the person reading the log ("photo.jpg: truncated
// JPEG data"). The CLI turns a Status into an exit code, the server into a gRPC status with the
// same message. Both types are cheap to move and safe to share between threads once built.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace imprint {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,    // the caller's input is malformed (bad hex, bad option, not an image)
  kNotFound,           // a file, work or key that does not exist
  kAlreadyExists,      // a work id that is taken
  kCorruption,         // stored data that fails its own checks
  kIOError,            // the operating system refused a read or write
  kUnsupported,        // a well-formed input we do not handle (a codec, a pixel format)
  kResourceExhausted,  // an input over a configured limit (pixels, bytes)
  kFailedPrecondition, // the system is not in a state to do this (catalog locked by a writer)
  kInternal,           // a bug: an invariant did not hold
  kCancelled,          // the caller stopped the work (cancelled, or past its deadline)
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "invalid argument: photo.jpg: not an image" style text for logs and the CLI.
  std::string to_string() const;

  // The same status with "context: " in front of the message (a file name, a work id).
  Status with_context(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status already_exists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
inline Status io_error(std::string m) { return {StatusCode::kIOError, std::move(m)}; }
inline Status unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
inline Status resource_exhausted(std::string m) {
  return {StatusCode::kResourceExhausted, std::move(m)};
}
inline Status failed_precondition(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }

// A value or the Status explaining why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {      // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok() && "Result built from an ok Status has no value");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace imprint

// Returns early from the enclosing function when `expr` (a Status) is not ok.
#define IMPRINT_RETURN_IF_ERROR(expr)          \
  do {                                         \
    ::imprint::Status imprint_status_ = (expr); \
    if (!imprint_status_.ok()) return imprint_status_; \
  } while (0)
