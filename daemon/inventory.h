// Discovery: what gives standing privileged access on this host, read from its own files (under
// `root`: "/" on a host, a planted tree in tests). Privileged accounts are those with uid 0,
// members of sudo, wheel, adm or admin (as a secondary group or by their primary gid), and those
// sudoers rules name (directly or through a %group), the rules read with their @include and
// @includedir (and #include...) files. A standing credential is a usable password hash (or an
// empty one) in shadow, or a key in a file sshd reads for the account: the AuthorizedKeysFile
// patterns of sshd_config (with its Includes, every Match block's too; default
// .ssh/authorized_keys and .ssh/authorized_keys2). An AuthorizedKeysCommand is named in
// `problems`: the keys it returns are not seen. Private SSH keys in root's home are listed too:
// credentials to elsewhere, at rest on this host.
//
// Accounts only NSS knows (LDAP, sssd, Warden's own ephemeral accounts) are not in these files
// and not inventoried.
#pragma once

#include <string>
#include <vector>

#include "common/inventory.h"

namespace warden {

Inventory CollectInventory(const std::string& root, const std::vector<std::string>& break_glass = {});

}  // namespace warden
