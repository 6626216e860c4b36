// Fuzzes the policy loader (controller/core/policy.h) with its sections: roles, vault paths,
// databases with their statement templates, and rotation targets with their password policies.
// A policy that loads must be usable: every rotation target's password policy generates a
// password of its length from its allowed characters only.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "controller/core/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto policy = warden::ParsePolicy(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!policy.ok()) return 0;
  for (const auto& [path, t] : policy->rotation.targets) {
    warden::SecretBytes pw = warden::GeneratePassword(t.password);
    if (pw.size() != static_cast<size_t>(t.password.length)) __builtin_trap();
    for (char c : pw.view()) {
      if (t.password.exclude.find(c) != std::string::npos) __builtin_trap();
    }
  }
  return 0;
}
