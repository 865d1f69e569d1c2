// pdq.index: the derived PDQ index on disk, in the derived-file form (derived_file.h) with
// entries {32-byte hash, i64 fingerprint pk, i64 work pk}.
#include "catalog_impl.h"
#include "derived_file.h"

namespace imprint {
namespace {

constexpr char kMagic[8] = {'I', 'M', 'P', 'R', 'I', 'N', 'T', 'I'};
constexpr uint32_t kEntrySize = 48;

}  // namespace

Status write_index_file(const std::string& path, const IndexFileContents& c) {
  std::vector<uint8_t> b = detail::begin_derived_file(
      kMagic, kEntrySize, {c.catalog_id, c.generation, c.max_fp_pk}, c.hashes.size());
  for (size_t i = 0; i < c.hashes.size(); ++i) {
    const auto h = c.hashes[i].to_bytes();
    b.insert(b.end(), h.begin(), h.end());
    detail::put<int64_t>(b, c.fp_pks[i]);
    detail::put<int64_t>(b, c.work_pks[i]);
  }
  return detail::write_derived_file(path, b);
}

Result<IndexFileContents> read_index_file(const std::string& path) {
  Result<detail::DerivedFile> f = detail::read_derived_file(path, kMagic, kEntrySize, "index");
  if (!f.ok()) return f.status();
  IndexFileContents c;
  c.catalog_id = f->header.catalog_id;
  c.generation = f->header.generation;
  c.max_fp_pk = f->header.max_fp_pk;
  c.hashes.reserve(f->count);
  c.fp_pks.reserve(f->count);
  c.work_pks.reserve(f->count);
  for (uint64_t i = 0; i < f->count; ++i) {
    const uint8_t* e = f->entry(i);
    c.hashes.push_back(PdqHash::from_bytes(e));
    c.fp_pks.push_back(detail::get<int64_t>(e + 32));
    c.work_pks.push_back(detail::get<int64_t>(e + 40));
  }
  return c;
}

}  // namespace imprint
