#include "scan_journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace imprint::cli {
namespace fs = std::filesystem;
namespace {

Status errno_status(const std::string& what) {
  return io_error(what + ": " + std::strerror(errno));
}

Status write_all(int fd, std::string_view data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_status("cannot write " + path);
    }
    done += size_t(n);
  }
  return Status::Ok();
}

Result<std::string> read_whole(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int64_t file_size(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? int64_t(st.st_size) : -1;
}

// Opens for appending after cutting the file to `size` bytes (drops what an interrupted commit
// wrote past the journal's last record).
Result<int> open_truncated(const std::string& path, int64_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return errno_status("cannot open " + path);
  const int64_t have = file_size(fd);
  if (have < size) {
    ::close(fd);
    return corruption(path + " is shorter (" + std::to_string(have) +
                      " bytes) than its journal "
                      "records (" +
                      std::to_string(size) + "); the report was damaged outside imprint");
  }
  if (have > size && (::ftruncate(fd, size) != 0 || ::fsync(fd) != 0)) {
    const Status s = errno_status("cannot truncate " + path);
    ::close(fd);
    return s;
  }
  return fd;
}

// Missing, empty, or holding only the LOCK of a scan killed before it wrote scan.json.
bool dir_is_empty(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return true;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename() != "LOCK") return false;
  }
  return !ec;
}

// The identity keys that differ between two scan.json identities, for the error message.
std::string identity_diff(const nlohmann::json& a, const nlohmann::json& b) {
  std::string out;
  for (auto it = a.begin(); it != a.end(); ++it) {
    if (!b.contains(it.key()) || b[it.key()] != it.value())
      out += (out.empty() ? "" : ", ") + it.key();
  }
  for (auto it = b.begin(); it != b.end(); ++it) {
    if (!a.contains(it.key())) out += (out.empty() ? "" : ", ") + it.key();
  }
  return out;
}

}  // namespace

std::string json_line(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string json_line(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

Status write_file_atomic(const std::string& path, std::string_view contents, bool sync_dir) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno_status("cannot create " + tmp);
  Status s = write_all(fd, contents, tmp);
  if (s.ok() && ::fsync(fd) != 0) s = errno_status("cannot sync " + tmp);
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = errno_status("cannot rename " + tmp);
  if (s.ok() && sync_dir) s = fsync_dir(fs::path(path).parent_path().string());
  return s;
}

Status fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_status("cannot open directory " + dir);
  const int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::Ok() : errno_status("cannot sync directory " + dir);
}

Result<JournalContents> read_journal(const std::string& dir) {
  JournalContents c;
  const std::string path = dir + "/journal.jsonl";
  std::error_code ec;
  if (!fs::exists(path, ec)) return c;
  Result<std::string> text = read_whole(path);
  if (!text.ok()) return text.status();
  size_t pos = 0;
  const std::string& t = *text;
  while (pos < t.size()) {
    const size_t nl = t.find('\n', pos);
    if (nl == std::string::npos) break;  // torn last line: the commit it began never finished
    const nlohmann::json j =
        nlohmann::json::parse(t.begin() + long(pos), t.begin() + long(nl), nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return corruption(path + ": unreadable line at byte " + std::to_string(pos));
    }
    if (j.contains("unit")) {
      c.findings_end = j.value("findings_end", int64_t{0});
      c.errors_end = j.value("errors_end", int64_t{0});
      c.units[j["unit"].get<size_t>()] = j;
      c.commit_order.push_back(j["unit"].get<size_t>());
    } else if (j.contains("run")) {
      c.runs.push_back(j);
    }
    pos = nl + 1;
    c.valid_bytes = int64_t(pos);
  }
  return c;
}

Result<std::unique_ptr<ReportDir>> ReportDir::open(const std::string& dir,
                                                   const nlohmann::json& scan, bool resume) {
  std::unique_ptr<ReportDir> r(new ReportDir());
  r->dir_ = dir;
  const std::string scan_path = dir + "/scan.json";
  std::error_code ec;
  const bool fresh = dir_is_empty(dir);
  if (!fresh && !resume) {
    return already_exists("report directory " + dir +
                          " is not empty; pass --resume to continue the scan it holds, or choose "
                          "another directory");
  }
  fs::create_directories(dir, ec);
  if (ec) return io_error("cannot create report directory " + dir + ": " + ec.message());

  // One writer per report: two scans appending to one journal would interleave their units.
  r->lock_fd_ = ::open((dir + "/LOCK").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (r->lock_fd_ < 0) return errno_status("cannot open " + dir + "/LOCK");
  if (::flock(r->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return failed_precondition("report directory " + dir + " is being written by another scan");
  }

  if (!fresh && fs::exists(scan_path, ec)) {
    Result<std::string> text = read_whole(scan_path);
    if (!text.ok()) return text.status();
    const nlohmann::json old = nlohmann::json::parse(*text, nullptr, false);
    if (old.is_discarded() || !old.contains("identity")) {
      return corruption(scan_path + " is unreadable; this is not a report imprint can resume");
    }
    if (old["identity"] != scan["identity"]) {
      return failed_precondition("report " + dir + " was made by a different scan (differs in: " +
                                 identity_diff(old["identity"], scan["identity"]) +
                                 "); resume with the same sources and options, or use a new report "
                                 "directory");
    }
    Result<JournalContents> j = read_journal(dir);
    if (!j.ok()) return j.status();
    r->journal_ = std::move(*j);
    r->resumed_ = true;
  } else if (!fresh) {
    return already_exists("report directory " + dir +
                          " holds files but no scan.json; refusing to write into it");
  }
  if (!r->resumed_) {
    IMPRINT_RETURN_IF_ERROR(write_file_atomic(scan_path, scan.dump(2) + "\n"));
  }

  Result<int> f = open_truncated(dir + "/findings.jsonl", r->journal_.findings_end);
  if (!f.ok()) return f.status();
  r->findings_fd_ = *f;
  Result<int> e = open_truncated(dir + "/errors.jsonl", r->journal_.errors_end);
  if (!e.ok()) return e.status();
  r->errors_fd_ = *e;
  Result<int> jf = open_truncated(dir + "/journal.jsonl", r->journal_.valid_bytes);
  if (!jf.ok()) return jf.status();
  r->journal_fd_ = *jf;
  r->findings_size_ = r->journal_.findings_end;
  r->errors_size_ = r->journal_.errors_end;
  IMPRINT_RETURN_IF_ERROR(fsync_dir(dir));
  return r;
}

ReportDir::~ReportDir() {
  for (int fd : {findings_fd_, errors_fd_, journal_fd_, lock_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

Status ReportDir::commit_unit(const std::string& findings, const std::string& errors,
                              nlohmann::json entry) {
  const std::string fpath = dir_ + "/findings.jsonl", epath = dir_ + "/errors.jsonl";
  if (!findings.empty()) {
    IMPRINT_RETURN_IF_ERROR(write_all(findings_fd_, findings, fpath));
    if (::fdatasync(findings_fd_) != 0) return errno_status("cannot sync " + fpath);
  }
  if (!errors.empty()) {
    IMPRINT_RETURN_IF_ERROR(write_all(errors_fd_, errors, epath));
    if (::fdatasync(errors_fd_) != 0) return errno_status("cannot sync " + epath);
  }
  findings_size_ += int64_t(findings.size());
  errors_size_ += int64_t(errors.size());
  entry["findings_end"] = findings_size_;
  entry["errors_end"] = errors_size_;
  const std::string line = json_line(entry) + "\n";
  IMPRINT_RETURN_IF_ERROR(write_all(journal_fd_, line, dir_ + "/journal.jsonl"));
  if (::fdatasync(journal_fd_) != 0) return errno_status("cannot sync " + dir_ + "/journal.jsonl");
  journal_.units[entry["unit"].get<size_t>()] = entry;
  journal_.commit_order.push_back(entry["unit"].get<size_t>());
  journal_.findings_end = findings_size_;
  journal_.errors_end = errors_size_;
  journal_.valid_bytes += int64_t(line.size());
  return Status::Ok();
}

Status ReportDir::append_run(const nlohmann::json& run) {
  const std::string line = json_line(run) + "\n";
  IMPRINT_RETURN_IF_ERROR(write_all(journal_fd_, line, dir_ + "/journal.jsonl"));
  if (::fdatasync(journal_fd_) != 0) return errno_status("cannot sync " + dir_ + "/journal.jsonl");
  journal_.runs.push_back(run);
  journal_.valid_bytes += int64_t(line.size());
  return Status::Ok();
}

}  // namespace imprint::cli
