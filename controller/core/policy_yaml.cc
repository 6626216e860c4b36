#include "controller/core/policy_yaml.h"

#include <algorithm>
#include <stdexcept>

#include "common/strings.h"

namespace warden {

std::vector<std::string> PolicyStrings(const YAML::Node& n, const std::string& where) {
  std::vector<std::string> out;
  if (!n) return out;
  if (!n.IsSequence()) throw std::runtime_error(where + " must be a list");
  for (const auto& v : n) out.push_back(v.as<std::string>());
  return out;
}

absl::Status PolicyOnlyKeys(const YAML::Node& n, const std::string& where,
                            std::initializer_list<std::string_view> known) {
  if (!n.IsMap()) return absl::InvalidArgumentError(StrCat(where, " must be a mapping"));
  for (const auto& kv : n) {
    const std::string key = kv.first.as<std::string>();
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string names;
      for (std::string_view k : known) names += StrCat(names.empty() ? "" : ", ", k);
      return absl::InvalidArgumentError(
          StrCat(where, ": unknown key \"", key, "\"; supported: ", names));
    }
  }
  return absl::OkStatus();
}

}  // namespace warden
