#include "api_keys.h"

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

#include "fingerprint.h"

namespace imprint::server {

const char* role_name(Role r) {
  switch (r) {
    case Role::kMatcher: return "matcher";
    case Role::kRegistrar: return "registrar";
    case Role::kAdmin: return "admin";
  }
  return "unknown";
}

Result<Role> parse_role(const std::string& name) {
  if (name == "matcher") return Role::kMatcher;
  if (name == "registrar") return Role::kRegistrar;
  if (name == "admin") return Role::kAdmin;
  return invalid_argument("unknown role '" + name + "' (expected admin, registrar or matcher)");
}

bool role_allows(Role have, Role need) { return have == Role::kAdmin || have == need; }

bool Caller::acts_for(const std::string& owner) const {
  return role == Role::kAdmin || std::find(owners.begin(), owners.end(), owner) != owners.end();
}

static std::string sha256_hex(const std::string& s) {
  return to_hex(sha256_of(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size())));
}

Result<ApiKeys> ApiKeys::load(const std::string& path) {
  std::ifstream f(path);
  if (!f) return not_found("cannot read key file " + path);
  ApiKeys keys;
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    std::string name, role, hash;
    if (!(ss >> name >> role >> hash) || hash.size() != 64) {
      return invalid_argument(path + ":" + std::to_string(n) + ": expected NAME ROLE SHA256");
    }
    Result<Role> r = parse_role(role);
    if (!r.ok()) return r.status().with_context(path + ":" + std::to_string(n));
    Caller caller{name, *r, {}, {}};
    if (*r == Role::kRegistrar) {
      std::string rest;
      std::getline(ss, rest);
      std::stringstream list(rest);
      for (std::string owner; std::getline(list, owner, ',');) {
        const size_t a = owner.find_first_not_of(" \t"), b = owner.find_last_not_of(" \t\r");
        if (a != std::string::npos) caller.owners.push_back(owner.substr(a, b - a + 1));
      }
      if (caller.owners.empty()) caller.owners.push_back(name);
    }
    keys.by_hash_[hash] = std::move(caller);
  }
  if (keys.by_hash_.empty()) return invalid_argument("key file " + path + " holds no keys");
  return keys;
}

std::string ApiKeys::generate_key() {
  std::random_device rd;
  std::string key = "imp_";
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  // 43 characters of 62 symbols: > 256 bits.
  for (int i = 0; i < 43; ++i) key += kChars[rd() % 62];
  return key;
}

std::string ApiKeys::line_for(const std::string& name, Role role, const std::string& key,
                              const std::vector<std::string>& owners) {
  std::string line = name + " " + role_name(role) + " " + sha256_hex(key);
  for (size_t i = 0; i < owners.size(); ++i) line += (i ? ", " : " ") + owners[i];
  return line;
}

Result<Caller> ApiKeys::authenticate(const std::string& authorization) const {
  static const std::string kBearer = "Bearer ";
  if (authorization.rfind(kBearer, 0) != 0) {
    return not_found("missing 'authorization: Bearer <key>' (HTTP header or gRPC metadata)");
  }
  auto it = by_hash_.find(sha256_hex(authorization.substr(kBearer.size())));
  if (it == by_hash_.end()) return not_found("unknown API key");
  return it->second;
}

}  // namespace imprint::server
