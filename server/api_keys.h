// API keys: who may call the server, and with which role.
//
// The key file holds one key per line, `NAME ROLE SHA256-OF-KEY [OWNER, OWNER...]` (blank lines
// and # comments skipped); the keys themselves are never stored. `imprint keys add` creates a
// key, prints it once and appends its line to a file only its owner may read (0600). Roles:
//   admin      everything, including usage records
//   registrar  register, get, list and remove works; registers, replaces and removes only works
//              of the owners its line names (none named: the owner is the key's name)
//   matcher    match calls only
// Keys travel as `authorization: Bearer KEY` metadata.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "status.h"

namespace imprint::server {

enum class Role { kMatcher, kRegistrar, kAdmin };
const char* role_name(Role r);
Result<Role> parse_role(const std::string& name);

struct Caller {
  std::string name;  // the key's name, or "anonymous" without a key file
  Role role = Role::kAdmin;
  std::vector<std::string> owners;  // a registrar's; admins act for every owner
  std::string request_id;           // the call's x-request-id (set by the call gate)

  // May this caller register, replace or remove a work of `owner`?
  bool acts_for(const std::string& owner) const;
};

class ApiKeys {
 public:
  static Result<ApiKeys> load(const std::string& path);
  // A new random key (printable, 32 bytes of entropy) and the line to store for it.
  static std::string generate_key();
  static std::string line_for(const std::string& name, Role role, const std::string& key,
                              const std::vector<std::string>& owners = {});

  // The caller for an `authorization` header value, or kNotFound.
  Result<Caller> authenticate(const std::string& authorization) const;
  size_t size() const { return by_hash_.size(); }

 private:
  std::map<std::string, Caller> by_hash_;  // sha256 hex of the key -> caller
};

// May a caller with role `have` make a call that needs `need`? admin covers everything;
// registrar and matcher cover only their own calls.
bool role_allows(Role have, Role need);

}  // namespace imprint::server
