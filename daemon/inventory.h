// Discovery: what gives standing privileged access on this host, read from its own files (under
// `root`: "/" on a host, a planted tree in tests). Privileged accounts are those with uid 0,
// members of sudo, wheel, adm or admin (as a secondary group or by their primary gid), and those
// sudoers rules name (directly or through a %group), the rules read with their @include and
// @includedir (and #include...) files. A standing credential is a usable password hash (or an
// empty one) in shadow, or a key in a file sshd reads for the account: the AuthorizedKeysFile
// patterns of sshd_config (with its Includes, every Match block's too; default
// .ssh/authorized_keys and .ssh/authorized_keys2). An AuthorizedKeysCommand is named in
// `problems`: the keys it returns are not seen. Key files are read with the account's file system
// ids, as sshd reads them. Private SSH keys in root's home are listed too (any file there that
// begins as one): credentials to elsewhere, at rest on this host. Every string is valid UTF-8
// without control characters (CleanText), within the caps of common/inventory.h.
//
// Accounts only NSS knows (LDAP, sssd, Warden's own ephemeral accounts) are not in these files
// and not inventoried.
#pragma once

#include <string>
#include <vector>

#include "common/inventory.h"

namespace warden {

// `keys` false: the accounts only (passwd, group, shadow and sudoers: files root owns), none of
// the files users write; what classifying a login needs, fresh.
Inventory CollectInventory(const std::string& root, const std::vector<std::string>& break_glass = {},
                           bool keys = true);

}  // namespace warden
