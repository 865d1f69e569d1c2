// imprint._imprint: the Python module (re-exported as `imprint` by imprint/__init__.py).
//
// A thin front end, like the command line: it turns Python objects into the libraries' inputs,
// calls imprint_engine and imprint_index, and turns their answers back into Python objects. It
// holds no fingerprint or matching logic; query answers are the `imprint query --json` objects
// (image_query.h), registrations and stats the CLI's JSON too (registration.h).
//
// Threads: the GIL is released while hashing, matching, registering and opening catalogs, so
// Python threads run those in parallel; a batch call also spreads its items over `threads` native
// threads. Input buffers (bytes, numpy arrays) are held through the Python buffer protocol for the
// whole call, so nothing they point to is freed or resized while the GIL is released.
//
// Errors: a library Status becomes imprint.Error(message) with .code ("invalid_argument",
// "not_found", ...) and .message; a wrong Python type is a TypeError or ValueError. Hostile
// bytes are the decoders' business (engine/decode.h): they return a Status, never crash.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "engine.h"
#include "image_query.h"
#include "image_view.h"
#include "match_json.h"
#include "registration.h"
#include "scan_pipeline.h"

namespace py = pybind11;

namespace imprint::python {
namespace {

PyObject* g_error = nullptr;  // imprint.Error, made at import

const char* code_name(StatusCode c) {
  switch (c) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kAlreadyExists:
      return "already_exists";
    case StatusCode::kCorruption:
      return "corruption";
    case StatusCode::kIOError:
      return "io_error";
    case StatusCode::kUnsupported:
      return "unsupported";
    case StatusCode::kResourceExhausted:
      return "resource_exhausted";
    case StatusCode::kFailedPrecondition:
      return "failed_precondition";
    case StatusCode::kInternal:
      return "internal";
    case StatusCode::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

// An imprint.Error instance (not raised): batch calls return these in place of failed items.
py::object make_error(const Status& s) {
  py::object err = py::reinterpret_borrow<py::object>(g_error)(s.message());
  err.attr("code") = code_name(s.code());
  err.attr("message") = s.message();
  return err;
}

// Thrown by the bindings, raised in Python as imprint.Error.
struct StatusError : std::exception {
  explicit StatusError(Status s) : status(std::move(s)) {}
  const char* what() const noexcept override { return status.message().c_str(); }
  Status status;
};

template <typename T>
T value_or_raise(Result<T> r) {
  if (!r.ok()) throw StatusError(r.status());
  return std::move(*r);
}
void raise_if_error(const Status& s) {
  if (!s.ok()) throw StatusError(s);
}

// A Python object that can be hashed or queried, converted while the GIL is held. `buffer` keeps
// the Python buffer exported (bytes, bytearray, memoryview, numpy array) until it is destroyed,
// which happens with the GIL held again.
struct Input {
  ImageQueryInput query;
  std::unique_ptr<py::buffer_info> buffer;
  Image copy;  // pixels whose channels are not adjacent (arr[..., ::-1]), packed here
  std::string label;
};

bool is_hex_hash(const std::string& s) { return s.size() == 64 && PdqHash::from_hex(s).ok(); }

// The PDQ hash of a Hash object or 64 hex digits, else nullopt.
std::optional<PdqHash> as_hash(py::handle obj);

Input to_input(py::handle obj, bool hashes_allowed, size_t index) {
  Input in;
  if (hashes_allowed) {
    if (std::optional<PdqHash> h = as_hash(obj)) {
      in.query = ImageQueryInput::of_hash(*h);
      in.label = h->to_hex();
      return in;
    }
  }
  if (py::isinstance<py::str>(obj) || py::hasattr(obj, "__fspath__")) {
    const std::string path = py::module_::import("os").attr("fsdecode")(obj).cast<std::string>();
    in.query = ImageQueryInput::file(path);
    in.label = path;
    return in;
  }
  if (!PyObject_CheckBuffer(obj.ptr())) {
    throw py::type_error(
        "expected a path (str or os.PathLike), image bytes, a numpy uint8 array (HxWx3 RGB or "
        "HxW grey)" +
        std::string(hashes_allowed ? " or a PDQ hash" : "") + ", got " +
        py::str(py::type::of(obj)).cast<std::string>());
  }
  in.buffer = std::make_unique<py::buffer_info>(py::reinterpret_borrow<py::buffer>(obj).request());
  const py::buffer_info& b = *in.buffer;
  if (b.itemsize != 1 || (b.format != "B" && b.format != "b" && b.format != "c")) {
    throw py::type_error("image buffers hold bytes (uint8), got format '" + b.format + "'");
  }
  if (b.ndim == 1) {
    if (b.strides[0] != 1 && b.shape[0] > 1) {
      throw py::value_error("image bytes must be contiguous");
    }
    in.query = ImageQueryInput::of_bytes(
        std::span<const uint8_t>(static_cast<const uint8_t*>(b.ptr), size_t(b.shape[0])));
    in.label = "<bytes #" + std::to_string(index) + ">";
    return in;
  }
  if (b.ndim != 2 && b.ndim != 3) {
    throw py::value_error("pixel arrays are HxWx3 (RGB) or HxW (grey), got " +
                          std::to_string(b.ndim) + " dimensions");
  }
  if (b.shape[0] > INT32_MAX || b.shape[1] > INT32_MAX) throw py::value_error("array too large");
  ImageView v;
  v.data = static_cast<const uint8_t*>(b.ptr);
  v.height = int(b.shape[0]);
  v.width = int(b.shape[1]);
  v.channels = b.ndim == 3 ? int(std::min<py::ssize_t>(b.shape[2], 1 << 20)) : 1;
  v.row_stride = b.strides[0];
  v.pixel_stride = b.strides[1];
  if (b.ndim == 3 && v.channels > 1 && b.strides[2] != 1) {
    if (v.channels != 3) {
      throw py::value_error("pixel arrays have 1 or 3 channels, got " + std::to_string(v.channels));
    }
    // Channels not adjacent (a reversed or planar view): packed once, here.
    in.copy = Image(v.width, v.height, 3);
    for (int y = 0; y < v.height; ++y) {
      for (int x = 0; x < v.width; ++x) {
        for (int c = 0; c < 3; ++c) in.copy.row(y)[x * 3 + c] = *(v.pixel(x, y) + c * b.strides[2]);
      }
    }
    v = ImageView::of(in.copy);
  }
  in.query = ImageQueryInput::of_pixels(v);
  in.label = "<pixels #" + std::to_string(index) + ">";
  return in;
}

std::vector<Input> to_inputs(py::handle items, bool hashes_allowed) {
  if (py::isinstance<py::str>(items) || py::isinstance<py::bytes>(items)) {
    throw py::type_error("expected a list of images, got a single one (use a list)");
  }
  std::vector<Input> out;
  size_t i = 0;
  for (py::handle obj : py::iter(items)) out.push_back(to_input(obj, hashes_allowed, i++));
  return out;
}

// hash_image and hash_images take images only: a hash given to them is refused.
Result<ImageFingerprint> hash_input(const ImageQueryInput& in, const HashOptions& o) {
  if (in.kind == ImageQueryInput::Kind::kHash) return invalid_argument("a hash is not an image");
  return fingerprint_input(in, o);
}

// imprint.Hash: an image's PDQ hash and what was learned hashing it.
struct PyHash {
  ImageFingerprint fp;
  bool has_sha256 = false;
  bool has_format = false;
};

std::optional<PdqHash> as_hash(py::handle obj) {
  if (py::isinstance<PyHash>(obj)) return obj.cast<const PyHash&>().fp.pdq.hash;
  if (py::isinstance<py::str>(obj)) {
    const std::string s = obj.cast<std::string>();
    if (is_hex_hash(s)) return *PdqHash::from_hex(s);
  }
  return std::nullopt;
}

PdqHash hash_arg(py::handle obj) {
  if (std::optional<PdqHash> h = as_hash(obj)) return *h;
  if (py::isinstance<py::str>(obj)) {
    return value_or_raise(PdqHash::from_hex(obj.cast<std::string>()));
  }
  throw py::type_error("expected an imprint.Hash or 64 hex digits");
}

PyHash to_py_hash(const ImageFingerprint& fp, const ImageQueryInput& in) {
  PyHash h{fp, in.kind != ImageQueryInput::Kind::kPixels,
           in.kind != ImageQueryInput::Kind::kPixels};
  return h;
}

HashOptions hash_options(const std::string& mode, bool dihedral, bool exif, int64_t max_pixels,
                         int64_t max_bytes) {
  HashOptions o;
  o.mode = value_or_raise(parse_hash_mode(mode));
  o.dihedral = dihedral;
  o.decode.apply_exif_orientation = exif;
  o.decode.max_pixels = max_pixels;
  o.decode.max_bytes = max_bytes;
  return o;
}

bool return_errors(const std::string& errors) {
  if (errors == "return") return true;
  if (errors == "raise") return false;
  throw py::value_error("errors must be 'return' or 'raise', got '" + errors + "'");
}

py::object json_to_python(const std::string& text) {
  static py::object* loads = new py::object(py::module_::import("json").attr("loads"));
  return (*loads)(text);
}

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// ---- hashing

PyHash hash_image(py::handle image, const std::string& mode, bool dihedral, bool exif,
                  int64_t max_pixels, int64_t max_bytes) {
  const HashOptions o = hash_options(mode, dihedral, exif, max_pixels, max_bytes);
  Input in = to_input(image, /*hashes_allowed=*/false, 0);
  std::optional<Result<ImageFingerprint>> r;
  {
    py::gil_scoped_release nogil;
    r = hash_input(in.query, o);
  }
  return to_py_hash(value_or_raise(std::move(*r)), in.query);
}

py::list hash_images(py::handle images, const std::string& mode, int threads, bool dihedral,
                     bool exif, int64_t max_pixels, int64_t max_bytes, const std::string& errors) {
  const HashOptions o = hash_options(mode, dihedral, exif, max_pixels, max_bytes);
  const bool keep_going = return_errors(errors);
  std::vector<Input> ins = to_inputs(images, /*hashes_allowed=*/false);
  std::vector<Result<ImageFingerprint>> results(ins.size(), internal_error("not processed"));
  {
    py::gil_scoped_release nogil;
    parallel_for(ins.size(), threads,
                 [&](size_t i) { results[i] = hash_input(ins[i].query, o); });
  }
  py::list out(ins.size());
  for (size_t i = 0; i < ins.size(); ++i) {
    if (!results[i].ok()) {
      if (!keep_going) throw StatusError(results[i].status());
      out[i] = make_error(results[i].status());
    } else {
      out[i] = py::cast(to_py_hash(*results[i], ins[i].query));
    }
  }
  return out;
}

// ---- catalogs

// imprint.Catalog. close() waits for calls in flight on other threads (the shared lock).
class PyCatalog {
 public:
  PyCatalog(const std::string& dir, bool writable, const std::string& index) : writable_(writable) {
    CatalogOptions o;
    o.dir = dir;
    o.read_only = !writable;
    o.index = value_or_raise(parse_index_kind(index));
    std::optional<Result<std::unique_ptr<Catalog>>> c;
    {
      py::gil_scoped_release nogil;
      c = Catalog::open(o);
    }
    catalog_ = value_or_raise(std::move(*c));
  }

  void close() {
    py::gil_scoped_release nogil;
    std::unique_lock lock(mu_);
    catalog_.reset();
  }

  py::list query(py::handle items, const std::string& purpose,
                 const std::optional<std::string>& licensee, int top_k,
                 const std::optional<double>& min_score, const std::string& mode, int threads,
                 int match_distance, int review_band, bool video_frames,
                 const std::optional<std::vector<std::string>>& labels, const std::string& errors) {
    ImageQueryOptions qo;
    qo.match.purpose = value_or_raise(parse_purpose(purpose));
    qo.match.licensee = licensee.value_or("");
    qo.match.top_k = top_k;
    qo.match.min_score = min_score.value_or(-1);
    qo.match.match_distance = match_distance;
    qo.match.review_band = review_band;
    qo.hash.mode = value_or_raise(parse_hash_mode(mode));
    qo.threads = threads;
    qo.video_frames = video_frames;
    const bool keep_going = return_errors(errors);
    std::vector<Input> ins = to_inputs(items, /*hashes_allowed=*/true);
    if (labels && labels->size() != ins.size()) {
      throw py::value_error("labels must have one entry per query");
    }
    std::vector<ImageQueryInput> queries;
    for (const Input& in : ins) queries.push_back(in.query);
    std::vector<std::string> answers(ins.size());
    std::vector<Status> failures(ins.size());
    {
      py::gil_scoped_release nogil;
      std::shared_lock lock(mu_);
      const Catalog& c = open_catalog();
      const std::vector<ImageQueryOutcome> outcomes = query_images(c, queries, qo);
      for (size_t i = 0; i < ins.size(); ++i) {
        if (!outcomes[i].fingerprint.ok()) {
          failures[i] = outcomes[i].fingerprint.status();
          continue;
        }
        const std::string& label = labels ? (*labels)[i] : ins[i].label;
        answers[i] = dump(image_query_to_json(label, outcomes[i], qo.match.top_k));
      }
    }
    py::list out(ins.size());
    for (size_t i = 0; i < ins.size(); ++i) {
      if (!failures[i].ok()) {
        if (!keep_going) throw StatusError(failures[i]);
        out[i] = make_error(failures[i]);
      } else {
        out[i] = json_to_python(answers[i]);
      }
    }
    return out;
  }

  py::list register_works(py::handle images, const std::optional<std::vector<std::string>>& ids,
                          const std::optional<std::vector<std::string>>& titles,
                          const std::string& owner, py::handle licence, bool replace, int threads,
                          const std::optional<std::vector<std::string>>& sources,
                          const std::string& errors) {
    if (!writable_) {
      throw StatusError(failed_precondition("catalog " + dir() +
                                            " is open read-only (Catalog(dir, writable=True))"));
    }
    LicencePolicy policy;
    if (!licence.is_none()) {
      const std::string text =
          py::isinstance<py::str>(licence)
              ? licence.cast<std::string>()
              : py::module_::import("json").attr("dumps")(licence).cast<std::string>();
      policy = value_or_raise(LicencePolicy::from_json(text));
    }
    const bool keep_going = return_errors(errors);
    std::vector<Input> ins = to_inputs(images, /*hashes_allowed=*/false);
    for (const auto* list : {&ids, &titles, &sources}) {
      if (*list && (*list)->size() != ins.size()) {
        throw py::value_error("ids, titles and sources must have one entry per image");
      }
    }
    std::vector<Result<WorkInput>> prepared(ins.size(), internal_error("not processed"));
    std::vector<std::string> lines(ins.size());
    {
      py::gil_scoped_release nogil;
      parallel_for(ins.size(), threads, [&](size_t i) {
        const ImageQueryInput& q = ins[i].query;
        if (q.kind == ImageQueryInput::Kind::kFile) {
          prepared[i] = image_work_input_from_file(q.path);
        } else if (q.kind == ImageQueryInput::Kind::kBytes) {
          prepared[i] = (ids && !(*ids)[i].empty())
                            ? work_input_from_image(q.bytes)
                            : Result<WorkInput>(invalid_argument(
                                  ins[i].label + ": image bytes need an id (ids=[...])"));
        } else {
          prepared[i] = unsupported(ins[i].label +
                                    ": works are registered from image files or their bytes "
                                    "(encode the array first)");
        }
      });
      std::vector<WorkInput> inputs;
      std::vector<size_t> origin;
      for (size_t i = 0; i < ins.size(); ++i) {
        if (!prepared[i].ok()) continue;
        WorkInput in = std::move(*prepared[i]);
        if (ids && !(*ids)[i].empty()) in.work.id = (*ids)[i];
        if (titles && !(*titles)[i].empty()) {
          in.work.title = (*titles)[i];
        } else if (in.work.title.empty()) {
          in.work.title = in.work.id;
        }
        if (sources && !(*sources)[i].empty()) in.work.source = (*sources)[i];
        in.work.owner = owner;
        in.work.licence = policy;
        inputs.push_back(std::move(in));
        origin.push_back(i);
      }
      std::shared_lock lock(mu_);
      Catalog* c = open_catalog_for_writing();
      std::vector<Result<Work>> done =
          c ? c->register_works(inputs, replace) : std::vector<Result<Work>>();
      for (size_t k = 0; k < origin.size(); ++k) {
        const size_t i = origin[k];
        if (!c) {
          prepared[i] = failed_precondition("catalog is closed");
        } else if (!done[k].ok()) {
          prepared[i] = done[k].status().with_context(ins[i].label);
        } else {
          nlohmann::json j = registration_to_json(*done[k], inputs[k]);
          if (ins[i].query.kind == ImageQueryInput::Kind::kFile) j["path"] = ins[i].query.path;
          lines[i] = dump(j);
        }
      }
    }
    py::list out(ins.size());
    for (size_t i = 0; i < ins.size(); ++i) {
      if (lines[i].empty()) {
        const Status s = prepared[i].ok() ? internal_error("not registered") : prepared[i].status();
        if (!keep_going) throw StatusError(s);
        out[i] = make_error(s);
      } else {
        out[i] = json_to_python(lines[i]);
      }
    }
    return out;
  }

  void remove(const std::string& id) {
    if (!writable_)
      throw StatusError(failed_precondition("catalog " + dir() + " is open read-only"));
    Status s;
    {
      py::gil_scoped_release nogil;
      std::shared_lock lock(mu_);
      Catalog* c = open_catalog_for_writing();
      s = c ? c->remove_work(id) : failed_precondition("catalog is closed");
    }
    raise_if_error(s);
  }

  py::list works(const std::optional<std::string>& owner, const std::optional<int64_t>& limit) {
    std::vector<std::string> rows;
    Status s;
    {
      py::gil_scoped_release nogil;
      std::shared_lock lock(mu_);
      s = open_catalog().list_works({owner.value_or(""), limit.value_or(-1)}, [&](const Work& w) {
        rows.push_back(dump(work_to_json(w)));
        return true;
      });
    }
    raise_if_error(s);
    py::list out;
    for (const std::string& r : rows) out.append(json_to_python(r));
    return out;
  }

  py::object work(const std::string& id) {
    std::optional<Result<Work>> w;
    {
      py::gil_scoped_release nogil;
      std::shared_lock lock(mu_);
      w = open_catalog().get_work(id);
    }
    return json_to_python(dump(work_to_json(value_or_raise(std::move(*w)))));
  }

  py::object stats() {
    std::string text;
    Status s;
    {
      py::gil_scoped_release nogil;
      std::shared_lock lock(mu_);
      const Catalog& c = open_catalog();
      Result<CatalogStats> st = c.stats();
      if (st.ok()) {
        text = dump(catalog_stats_to_json(c, *st));
      } else {
        s = st.status();
      }
    }
    raise_if_error(s);
    return json_to_python(text);
  }

  std::string dir() {
    std::shared_lock lock(mu_);
    return open_catalog().dir();
  }
  std::string catalog_id() {
    std::shared_lock lock(mu_);
    return open_catalog().catalog_id();
  }
  bool writable() const { return writable_; }
  bool closed() {
    std::shared_lock lock(mu_);
    return catalog_ == nullptr;
  }

 private:
  // Callers hold mu_ (shared). Throws when closed; no Python call is made, so it is safe without
  // the GIL (the exception is translated once the GIL is back).
  const Catalog& open_catalog() const {
    if (!catalog_) throw StatusError(failed_precondition("catalog is closed"));
    return *catalog_;
  }
  Catalog* open_catalog_for_writing() { return catalog_.get(); }

  std::unique_ptr<Catalog> catalog_;
  std::shared_mutex mu_;
  bool writable_;
};

// ---- scans

std::string path_arg(py::handle obj) {
  if (py::isinstance<PyCatalog>(obj)) return obj.cast<PyCatalog&>().dir();
  return py::module_::import("os").attr("fsdecode")(obj).cast<std::string>();
}

py::object scan(py::handle catalog, py::handle sources, py::handle report_dir, int threads,
                std::pair<size_t, size_t> shard, bool resume, const std::string& purpose,
                const std::optional<std::string>& licensee, py::object progress,
                const std::string& progress_output, int top_k, bool dihedral, bool second_stage,
                const std::string& video_mode, py::object save_catalog, const std::string& index,
                int match_distance, int review_band) {
  cli::ScanOptions o;
  o.catalog_dir = path_arg(catalog);
  o.report_dir = path_arg(report_dir);
  if (py::isinstance<py::str>(sources)) throw py::type_error("sources is a list of paths");
  for (py::handle s : py::iter(sources)) o.sources.push_back(path_arg(s));
  o.threads = threads;
  std::tie(o.shard_index, o.shard_count) = shard;
  if (o.shard_count == 0 || o.shard_index >= o.shard_count) {
    throw py::value_error("shard is (i, n) with 0 <= i < n");
  }
  o.resume = resume;
  o.purpose = value_or_raise(parse_purpose(purpose));
  o.licensee = licensee.value_or("");
  o.top_k = top_k;
  o.dihedral = dihedral;
  o.second_stage = second_stage;
  o.video_mode = value_or_raise(parse_hash_mode(video_mode));
  if (!save_catalog.is_none()) o.save_catalog = path_arg(save_catalog);
  o.index = index;
  o.match_distance = match_distance;
  o.review_band = review_band;
  if (progress_output == "none") {
    o.progress = cli::ProgressMode::kNone;
  } else if (progress_output == "lines") {
    o.progress = cli::ProgressMode::kLines;
  } else if (progress_output == "bar") {
    o.progress = cli::ProgressMode::kBar;
  } else if (progress_output == "auto") {
    o.progress = cli::ProgressMode::kAuto;
  } else {
    throw py::value_error("progress_output is none, lines, bar or auto");
  }
  // Ctrl-C stops the scan cleanly (then KeyboardInterrupt is raised); only the main thread
  // takes the signals over, as Python itself does.
  py::module_ threading = py::module_::import("threading");
  o.handle_signals = threading.attr("current_thread")().is(threading.attr("main_thread")());

  // The callback runs on a scan thread, with the GIL taken there; what it raises ends the scan
  // and is raised again here.
  std::unique_ptr<py::error_already_set> callback_error;
  bool cancelled = false;
  if (!progress.is_none()) {
    o.on_progress = [&](const cli::ScanProgress& p) -> bool {
      py::gil_scoped_acquire gil;
      if (callback_error || cancelled) return false;
      try {
        py::dict d;
        d["items"] = p.items;
        d["matched"] = p.matched;
        d["flagged"] = p.flagged;
        d["errors"] = p.errors;
        d["seconds"] = p.seconds;
        d["total_items"] = p.total_items < 0 ? py::object(py::none()) : py::float_(p.total_items);
        py::object r = progress(d);
        cancelled = !r.is_none() && !py::bool_(r);
        return !cancelled;
      } catch (py::error_already_set& e) {
        callback_error = std::make_unique<py::error_already_set>(std::move(e));
        return false;
      }
    };
  }
  Status error;
  int code = 0;
  {
    py::gil_scoped_release nogil;
    code = cli::run_scan(o, &error);
  }
  if (callback_error) throw *callback_error;
  if (code == 2) throw StatusError(error.ok() ? internal_error("the scan could not run") : error);
  if (code == 130 && !cancelled) {
    PyErr_SetNone(PyExc_KeyboardInterrupt);
    throw py::error_already_set();
  }
  py::object open = py::module_::import("builtins").attr("open");
  py::object f = open(o.report_dir + "/summary.json");
  py::object summary = py::module_::import("json").attr("load")(f);
  f.attr("close")();
  return summary;
}

}  // namespace
}  // namespace imprint::python

PYBIND11_MODULE(_imprint, m) {
  using namespace imprint;
  using namespace imprint::python;
  namespace py = pybind11;
  m.doc() =
      "imprint: PDQ fingerprints bit-exact with Meta's reference, and matching against a catalog "
      "of registered works with their licences.";
  m.attr("__version__") = IMPRINT_VERSION;
  // As the CLI and the server do: decoding allocates the same large buffers image after image,
  // and glibc would hand each back to the kernel and fault in fresh zeroed pages for the next.
  // Measured with benchmarks/python_hash_throughput.py (fast mode, 4 MP JPEGs, 2 threads):
  // 23-25 images/s without, 28-30 with. The process keeps up to 128 MB of freed memory.
  retain_freed_memory();

  g_error = PyErr_NewExceptionWithDoc(
      "imprint.Error",
      "An imprint library error. str(e) and e.message are the library's message (starting with "
      "the path for files); e.code is its status: invalid_argument, not_found, already_exists, "
      "corruption, io_error, unsupported, resource_exhausted, failed_precondition, internal.",
      PyExc_Exception, nullptr);
  m.add_object("Error", py::handle(g_error));
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const StatusError& e) {
      py::object err = make_error(e.status);
      PyErr_SetObject(g_error, err.ptr());
    }
  });

  const int64_t kMaxPixels = DecodeOptions{}.max_pixels;
  const int64_t kMaxBytes = DecodeOptions{}.max_bytes;

  py::class_<PyHash>(m, "Hash",
                     "A PDQ hash (256 bits) with its quality (0..100), as `imprint hash` prints "
                     "them. Hash(hex, quality=100) builds one from 64 hex digits.")
      .def(py::init([](const std::string& hex, int quality) {
             PyHash h;
             h.fp.pdq = {value_or_raise(PdqHash::from_hex(hex)), quality};
             return h;
           }),
           py::arg("hex"), py::arg("quality") = 100)
      .def_property_readonly(
          "hex", [](const PyHash& h) { return h.fp.pdq.hash.to_hex(); },
          "64 lowercase hex digits, the reference's word order")
      .def_property_readonly(
          "quality", [](const PyHash& h) { return h.fp.pdq.quality; },
          "PDQ quality 0..100; below 50 the hash is too weak to act on")
      .def_property_readonly(
          "width", [](const PyHash& h) { return h.fp.width; },
          "Width as declared by the file (0 for a hash built from hex)")
      .def_property_readonly("height", [](const PyHash& h) { return h.fp.height; })
      .def_property_readonly(
          "format",
          [](const PyHash& h) -> std::optional<std::string> {
            if (!h.has_format) return std::nullopt;
            return std::string(image_format_name(h.fp.format));
          },
          "jpeg, png, webp, bmp, tiff, gif; None for pixel arrays and hex")
      .def_property_readonly(
          "sha256",
          [](const PyHash& h) -> std::optional<std::string> {
            if (!h.has_sha256) return std::nullopt;
            return to_hex(h.fp.sha256);
          },
          "SHA-256 of the image bytes (hex); None for pixel arrays and hex")
      .def_property_readonly(
          "dihedral",
          [](const PyHash& h) -> std::optional<std::vector<std::pair<std::string, std::string>>> {
            if (!h.fp.has_dihedral) return std::nullopt;
            std::vector<std::pair<std::string, std::string>> out;
            for (int i = 0; i < kDihedralCount; ++i) {
              out.emplace_back(dihedral_name(Dihedral(i)), h.fp.dihedral[i].to_hex());
            }
            return out;
          },
          "With dihedral=True: [(name, hex)] for the 8 rotations and mirrors in the reference's "
          "order (original, rot90, rot180, rot270, flip-x, flip-y, flip-plus1, flip-minus1)")
      .def(
          "distance",
          [](const PyHash& h, py::handle other) { return h.fp.pdq.hash.distance(hash_arg(other)); },
          py::arg("other"), "Hamming distance (0..256) to another Hash or 64 hex digits")
      .def("__str__", [](const PyHash& h) { return h.fp.pdq.hash.to_hex(); })
      .def("__repr__",
           [](const PyHash& h) {
             return "imprint.Hash('" + h.fp.pdq.hash.to_hex() +
                    "', quality=" + std::to_string(h.fp.pdq.quality) + ")";
           })
      .def("__eq__",
           [](const PyHash& h, py::handle other) {
             std::optional<PdqHash> o = as_hash(other);
             return o && *o == h.fp.pdq.hash;
           })
      .def("__hash__", [](const PyHash& h) { return py::hash(py::str(h.fp.pdq.hash.to_hex())); });

  m.def("hash_image", &hash_image, py::arg("image"), py::kw_only(), py::arg("mode") = "exact",
        py::arg("dihedral") = false, py::arg("exif_orientation") = false,
        py::arg("max_pixels") = kMaxPixels, py::arg("max_bytes") = kMaxBytes,
        R"(PDQ hash of one image: the same hash and quality as `imprint hash`.

image: a path (str or os.PathLike), the image file's bytes (bytes, bytearray, memoryview,
  1-D uint8 array), or decoded pixels: a numpy uint8 array HxWx3 (RGB) or HxW (grey), read in
  place when its channels are adjacent.
mode: "exact" (full decode, the reference library's hash), "fast" (JPEGs decoded at reduced
  scale: a few bits off, several times faster), "reference-cli" (pdq-photo-hasher's 512x512
  pre-resize, alpha dropped).
dihedral: also compute the 8 rotations/mirrors (Hash.dihedral).
Raises imprint.Error (with .code) for unreadable, corrupt, oversized or hostile input.
The GIL is released while decoding and hashing.)");

  m.def("hash_images", &hash_images, py::arg("images"), py::kw_only(), py::arg("mode") = "exact",
        py::arg("threads") = 0, py::arg("dihedral") = false, py::arg("exif_orientation") = false,
        py::arg("max_pixels") = kMaxPixels, py::arg("max_bytes") = kMaxBytes,
        py::arg("errors") = "return",
        R"(PDQ hashes of a batch of images (as hash_image takes), on `threads` native threads
(0: one per core), with the GIL released. Returns one entry per input, in input order: an
imprint.Hash, or for an input that failed an imprint.Error instance (errors="return", the
default) -- or raises the first failure (errors="raise").)");

  m.def(
      "distance", [](py::handle a, py::handle b) { return hash_arg(a).distance(hash_arg(b)); },
      py::arg("a"), py::arg("b"),
      "Hamming distance (0..256) between two PDQ hashes: imprint.Hash objects or 64 hex digits. "
      "<= 31 is the reference's match threshold.");

  py::class_<PyCatalog>(
      m, "Catalog",
      R"(A catalog of registered works (a directory: catalog.sqlite, pdq.index, LOCK).

Catalog(dir, writable=False, index="auto"). Read-only by default: several processes may read a
catalog while one writes. writable=True takes the catalog's writer lock (one process at a time;
another gets imprint.Error code failed_precondition) and creates the catalog if it is new.
Open a Catalog in each process (after fork), not before. Methods may be called from several
Python threads at once; close() (or leaving a `with` block) waits for calls in flight.)")
      .def(py::init<const std::string&, bool, const std::string&>(), py::arg("dir"), py::kw_only(),
           py::arg("writable") = false, py::arg("index") = "auto")
      .def("query", &PyCatalog::query, py::arg("queries"), py::kw_only(),
           py::arg("purpose") = "any-use", py::arg("licensee") = py::none(), py::arg("top_k") = 10,
           py::arg("min_score") = py::none(), py::arg("mode") = "exact", py::arg("threads") = 0,
           py::arg("match_distance") = kPdqMatchDistance,
           py::arg("review_band") = MatchOptions{}.review_band, py::arg("video_frames") = false,
           py::arg("labels") = py::none(), py::arg("errors") = "return",
           R"(Match images against the catalog: one dict per query, in input order, equal to
the object `imprint query --json` prints for it:
{"path", "pdq", "quality", "weak", "decision", "matches": [{"work_id", "title", "owner",
"distance", "score", "transform", "method", "decision", "flagged", "licence"}]}.

queries: paths, image bytes, numpy pixel arrays, imprint.Hash objects or 64-hex strings.
purpose: "ai-training", "commercial" or "any-use"; licensee: the party asking.
top_k, min_score (None: the review band's edge; 0 lists the nearest works), mode, threads,
match_distance, review_band, video_frames: as `imprint query`'s flags.
labels: the "path" value of each answer (default: the path, the hex, or "<bytes #i>").
A query that cannot be hashed is an imprint.Error in its place (errors="return") or raised.)")
      .def("register", &PyCatalog::register_works, py::arg("images"), py::kw_only(),
           py::arg("ids") = py::none(), py::arg("titles") = py::none(), py::arg("owner") = "",
           py::arg("licence") = py::none(), py::arg("replace") = false, py::arg("threads") = 0,
           py::arg("sources") = py::none(), py::arg("errors") = "return",
           R"(Register image files or image bytes as works (writable catalogs). One dict per
image, as `imprint register` prints it, once its transaction has committed; failures are
imprint.Error instances in place (errors="return") or raised.

ids, titles, sources: one per image (default: the file's name without extension, the same, its
absolute path; image bytes need an id). licence: a policy dict or JSON text,
{"ai-training": "deny", "commercial": {"licensed": ["Acme"]}, "any-use": "allow"}; unset
purposes are denied. replace: replace works whose id is taken.)")
      .def("remove", &PyCatalog::remove, py::arg("id"),
           "Remove a work (from matching at once, durably). imprint.Error not_found if unknown.")
      .def("works", &PyCatalog::works, py::kw_only(), py::arg("owner") = py::none(),
           py::arg("limit") = py::none(),
           "Works in registration order, as `imprint works list --json` prints them.")
      .def("work", &PyCatalog::work, py::arg("id"), "One work as a dict; imprint.Error not_found.")
      .def("stats", &PyCatalog::stats, "Totals, as `imprint stats --json` prints them.")
      .def("close", &PyCatalog::close, "Close the catalog (writers save pdq.index).")
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](PyCatalog& c, py::args) { c.close(); })
      .def_property_readonly("dir", &PyCatalog::dir)
      .def_property_readonly("catalog_id", &PyCatalog::catalog_id)
      .def_property_readonly("writable", &PyCatalog::writable)
      .def_property_readonly("closed", &PyCatalog::closed);

  m.def("scan", &scan, py::arg("catalog"), py::arg("sources"), py::arg("report_dir"), py::kw_only(),
        py::arg("threads") = 0, py::arg("shard") = std::pair<size_t, size_t>(0, 1),
        py::arg("resume") = false, py::arg("purpose") = "ai-training",
        py::arg("licensee") = py::none(), py::arg("progress") = py::none(),
        py::arg("progress_output") = "none", py::arg("top_k") = 5, py::arg("dihedral") = true,
        py::arg("second_stage") = true, py::arg("video_mode") = "exact",
        py::arg("save_catalog") = py::none(), py::arg("index") = "auto",
        py::arg("match_distance") = kPdqMatchDistance,
        py::arg("review_band") = MatchOptions{}.review_band,
        R"(Audit a corpus for registered works: `imprint scan`, the same pipeline and report.

catalog: a catalog directory (or a Catalog, whose directory is used; the scan opens it
  read-only itself). sources: directories, text files listing paths, images, videos and
  WebDataset shards (.tar, .tar.gz, read as streams). report_dir: new, or resume=True to continue
  one (after any interruption). shard=(i, n): take part i of n of the units (same sources in
  every part); merge the reports with `imprint report merge`.
progress: called about twice a second (from a scan thread, with the GIL) with
  {"items", "matched", "flagged", "errors", "seconds", "total_items" (None until known)};
  returning False stops the scan cleanly (resume=True continues it); what it raises stops the
  scan and is raised. progress_output: "none", "lines", "bar" or "auto" on stderr. second_stage: samples PDQ does not
  settle also go through the second stage as Catalog.query runs it (crops, screenshots, collages);
  False finds near-duplicates only, many times faster.
Returns the report's summary.json as a dict (findings are in report_dir/findings.jsonl).
Raises imprint.Error when the scan cannot run; KeyboardInterrupt after a Ctrl-C (the report
then covers what was committed). The GIL is released while it runs.)");
}
