// Small readers shared by the policy's section parsers (policy.cc, db_policy.cc,
// rotation_policy.cc): a list of strings, and a mapping that holds only known keys.
#pragma once

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace warden {

// The strings of a YAML list (an absent node: none). Throws (yaml-cpp's way, caught by the
// policy loader) when `n` is something else, naming `where`.
std::vector<std::string> PolicyStrings(const YAML::Node& n, const std::string& where);

// Refuses a mapping with a key outside `known`, listing the supported ones.
absl::Status PolicyOnlyKeys(const YAML::Node& n, const std::string& where,
                            std::initializer_list<std::string_view> known);

}  // namespace warden
