// Fuzzes the unseal-share text a custodian submits (wardenctl operator unseal): whatever decodes
// must encode back to text that decodes to the same share, and rebuilding from it must not crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/shamir.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto share = warden::DecodeShare(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!share.ok()) return 0;
  auto again = warden::DecodeShare(warden::EncodeShare(*share));
  if (!again.ok() || again->index != share->index || again->set_id != share->set_id ||
      again->y.view() != share->y.view())
    __builtin_trap();
  std::vector<warden::Share> one;
  one.push_back(std::move(*share));
  (void)warden::CombineShares(one);
  return 0;
}
