// Discovery on a planted host tree: every kind of standing privileged access is found, and
// nothing that is not one.
#include "daemon/inventory.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace warden::testing {
namespace {

void Put(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

// A planted tree that every uid may enter (key files are read with the account's ids).
std::string Tree(const TempDir& dir) {
  std::filesystem::permissions(dir.path(), std::filesystem::perms(0755));
  return dir.path();
}

const InventoryAccount* Find(const Inventory& inv, const std::string& name) {
  for (const InventoryAccount& a : inv.privileged)
    if (a.name == name) return &a;
  return nullptr;
}

TEST(InventoryTest, FindsPlantedStandingKeysPasswordsAndSudoers) {
  TempDir dir;
  const std::string r = Tree(dir);
  Put(r + "/etc/passwd",
      "root:x:0:0:root:/root:/bin/bash\n"
      "toor:x:0:0:backdoor:/home/toor:/bin/sh\n"       // a second uid 0
      "alice:x:1000:1000::/home/alice:/bin/bash\n"     // group sudo, a key
      "bob:x:1001:1001::/home/bob:/bin/bash\n"         // sudoers.d via %ops
      "carol:x:1002:1002::/home/carol:/bin/bash\n"     // nothing privileged
      "dave:x:1003:27::/home/dave:/bin/bash\n"         // primary group sudo (gid 27)
      "erin:x:1004:1004::/home/erin:/bin/bash\n");     // an @include'd file names her
  Put(r + "/etc/group", "root:x:0:\nsudo:x:27:alice\nops:x:2000:bob\nadm:x:4:\n");
  Put(r + "/etc/shadow",
      "root:!:19000::::::\ntoor:$6$salt$hash:19000::::::\nalice:!$6$x:19000::::::\n"
      "bob:*:19000::::::\ncarol:$6$c$c:19000::::::\ndave::19000::::::\nerin:$y$j9T$x:19000::::::\n");
  Put(r + "/etc/sudoers",
      "Defaults env_reset\n# a comment\nroot ALL=(ALL:ALL) ALL\nUser_Alias ADMINS = bob\n"
      "@includedir /etc/sudoers.d\n@include extra\n");
  Put(r + "/etc/sudoers.d/ops", "%ops ALL=(ALL) \\\n  NOPASSWD: ALL\n");
  Put(r + "/etc/sudoers.d/ignored.bak", "carol ALL=(ALL) ALL\n");  // a '.': sudo skips it
  Put(r + "/etc/extra", "erin ALL=(root) /usr/bin/systemctl\n");
  Put(r + "/home/alice/.ssh/authorized_keys",
      "# mine\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBfbz7ffaqAmQd8ocTFNXgG5c9CyrW9Z4Pj2tYUtlf9O alice@laptop\n"
      "from=\"10.0.0.0/8\",command=\"x y\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBfbz7ffaqAmQd8ocTFNXgG5c9CyrW9Z4Pj2tYUtlf9O ci\n");
  Put(r + "/home/carol/.ssh/authorized_keys",
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBfbz7ffaqAmQd8ocTFNXgG5c9CyrW9Z4Pj2tYUtlf9O carol\n");
  Put(r + "/root/.ssh/id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\n");
  Put(r + "/root/.ssh/id_ed25519.pub", "ssh-ed25519 AAAA root\n");

  const Inventory inv = CollectInventory(r);
  EXPECT_TRUE(inv.problems.empty()) << inv.problems.front();
  std::vector<std::string> names;
  for (const InventoryAccount& a : inv.privileged) names.push_back(a.name);
  EXPECT_EQ(names, (std::vector<std::string>{"alice", "bob", "dave", "erin", "root", "toor"}));

  const InventoryAccount* toor = Find(inv, "toor");
  ASSERT_TRUE(toor);
  EXPECT_EQ(toor->via, (std::vector<std::string>{"uid 0"}));
  EXPECT_TRUE(toor->password);
  EXPECT_TRUE(toor->Standing());

  const InventoryAccount* alice = Find(inv, "alice");
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->via, (std::vector<std::string>{"group sudo"}));
  EXPECT_FALSE(alice->password);  // locked
  ASSERT_EQ(alice->authorized_keys.size(), 2u);  // the second one behind options
  EXPECT_EQ(alice->authorized_keys[0].type, "ssh-ed25519");
  EXPECT_EQ(alice->authorized_keys[0].fingerprint.rfind("SHA256:", 0), 0u);
  EXPECT_EQ(alice->authorized_keys[0].comment, "alice@laptop");
  EXPECT_EQ(alice->authorized_keys[1].fingerprint, alice->authorized_keys[0].fingerprint);
  EXPECT_EQ(alice->authorized_keys[0].file, "/home/alice/.ssh/authorized_keys");

  const InventoryAccount* bob = Find(inv, "bob");
  ASSERT_TRUE(bob);
  EXPECT_EQ(bob->via, (std::vector<std::string>{"sudoers /etc/sudoers.d/ops:1"}));
  EXPECT_FALSE(bob->Standing());  // '*' and no keys: nothing standing

  EXPECT_TRUE(Find(inv, "dave")->password);  // an empty hash logs in without a password
  EXPECT_EQ(Find(inv, "dave")->via, (std::vector<std::string>{"group sudo (primary)"}));
  EXPECT_EQ(Find(inv, "erin")->via, (std::vector<std::string>{"sudoers /etc/extra:1"}));
  EXPECT_FALSE(Find(inv, "root")->password);
  EXPECT_EQ(inv.root_private_keys, (std::vector<std::string>{"/root/.ssh/id_ed25519"}));
  // The rules as sudo reads them (continuation lines joined; the skipped file absent).
  ASSERT_EQ(inv.sudoers.size(), 3u);
  EXPECT_EQ(inv.sudoers[1].text, "%ops ALL=(ALL)    NOPASSWD: ALL");
}

// sshd may take keys from elsewhere than ~/.ssh: the inventory reads them where sshd_config says,
// in every Match block too, and says what it cannot see (an AuthorizedKeysCommand).
TEST(InventoryTest, KeysAreReadWhereSshdConfigPutsThem) {
  TempDir dir;
  const std::string r = Tree(dir);
  const std::string key =
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBfbz7ffaqAmQd8ocTFNXgG5c9CyrW9Z4Pj2tYUtlf9O hidden\n";
  Put(r + "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nops:x:1000:1000::/home/ops:/bin/sh\n");
  Put(r + "/etc/group", "sudo:x:27:ops\n");
  Put(r + "/etc/shadow", "root:!:1::::::\nops:!:1::::::\n");
  Put(r + "/etc/ssh/sshd_config",
      "Include /etc/ssh/sshd_config.d/*.conf\nAuthorizedKeysFile .ssh/authorized_keys\n"
      "Match User ops\n  AuthorizedKeysFile /srv/keys/%u.pub %h/.ssh/extra\n");
  Put(r + "/etc/ssh/sshd_config.d/10-keys.conf",
      "AuthorizedKeysFile /etc/ssh/keys/%u /etc/ssh/keys/uid-%U\n"
      "AuthorizedKeysCommand /usr/local/bin/keys %u\n");
  Put(r + "/etc/ssh/keys/root", key);
  Put(r + "/etc/ssh/keys/uid-1000", key);
  Put(r + "/srv/keys/ops.pub", key);
  Put(r + "/home/ops/.ssh/extra", key);
  Put(r + "/home/ops/.ssh/authorized_keys", key);  // not read: the included file came first

  const Inventory inv = CollectInventory(r, {"root"});
  const InventoryAccount* root = Find(inv, "root");
  ASSERT_TRUE(root);
  ASSERT_EQ(root->authorized_keys.size(), 1u);
  EXPECT_EQ(root->authorized_keys[0].file, "/etc/ssh/keys/root");
  const InventoryAccount* ops = Find(inv, "ops");
  ASSERT_TRUE(ops);
  std::vector<std::string> files;
  for (const InventoryKey& k : ops->authorized_keys) files.push_back(k.file);
  EXPECT_EQ(files, (std::vector<std::string>{"/etc/ssh/keys/uid-1000", "/srv/keys/ops.pub",
                                             "/home/ops/.ssh/extra"}));
  ASSERT_EQ(inv.problems.size(), 1u);
  EXPECT_EQ(inv.problems[0],
            "/etc/ssh/sshd_config.d/10-keys.conf:2: AuthorizedKeysCommand /usr/local/bin/keys %u: "
            "the keys it returns are not inventoried");
  EXPECT_EQ(inv.break_glass, (std::vector<std::string>{"root"}));
}

// Whatever a user writes into their own authorized_keys (it is theirs to write): every line
// counts, none is lost, and the report stays within what the controller takes.
TEST(InventoryTest, AFloodOfKeysIsCappedAndSaid) {
  TempDir dir;
  const std::string r = Tree(dir);
  Put(r + "/etc/passwd", "ops:x:0:0::/home/ops:/bin/sh\n");
  Put(r + "/etc/group", "");
  Put(r + "/etc/shadow", "");
  std::string lines;
  for (int i = 0; i < 300; i++) lines += std::string(2000, 'x') + "\n";
  Put(r + "/home/ops/.ssh/authorized_keys", lines);
  const Inventory inv = CollectInventory(r);
  ASSERT_EQ(inv.privileged.size(), 1u);
  EXPECT_EQ(inv.privileged[0].authorized_keys.size(), kMaxInventoryKeys);
  EXPECT_EQ(inv.privileged[0].authorized_keys[0].type, "unparsed");
  EXPECT_TRUE(inv.privileged[0].Standing());
  ASSERT_EQ(inv.problems.size(), 1u);
  EXPECT_EQ(inv.problems[0], "ops: 300 authorized keys; the first 256 are reported");
  EXPECT_TRUE(CheckInventory(inv).ok()) << CheckInventory(inv);
}

// A privileged user cannot stall or blind discovery with their own authorized_keys: a FIFO (a
// reader would block forever), a link to /dev/zero (endless) are not read but named; a link to a
// file they may not read reports none of its text; a huge line of blanks is counted, not parsed.
TEST(InventoryTest, AUsersOwnKeyFilesCannotStallOrLeak) {
  TempDir dir;
  const std::string r = Tree(dir);
  Put(r + "/etc/passwd",
      "root:x:0:0::/root:/bin/sh\nfifo:x:0:0::/home/fifo:/bin/sh\nzero:x:0:0::/home/zero:/bin/sh\n"
      "leak:x:1001:1001::/home/leak:/bin/sh\nbig:x:0:0::/home/big:/bin/sh\n");
  Put(r + "/etc/sudoers", "leak ALL=(ALL) ALL\n");
  Put(r + "/etc/group", "");
  Put(r + "/etc/shadow", "root:$6$secret-hash:1::::::\n");
  std::filesystem::permissions(r + "/etc/shadow", std::filesystem::perms(0600));
  std::filesystem::create_directories(r + "/home/fifo/.ssh");
  ASSERT_EQ(mkfifo((r + "/home/fifo/.ssh/authorized_keys").c_str(), 0600), 0);
  std::filesystem::create_directories(r + "/home/zero/.ssh");
  std::filesystem::create_symlink("/dev/zero", r + "/home/zero/.ssh/authorized_keys");
  std::filesystem::create_directories(r + "/home/leak/.ssh");
  std::filesystem::create_symlink(r + "/etc/shadow", r + "/home/leak/.ssh/authorized_keys");
  std::string blanks;
  for (int i = 0; i < 400000; i++) blanks += "a ";
  Put(r + "/home/big/.ssh/authorized_keys", blanks + "\n" + std::string(3 << 20, 'x'));

  const Inventory inv = CollectInventory(r);
  EXPECT_TRUE(Find(inv, "fifo")->authorized_keys.empty());
  EXPECT_TRUE(Find(inv, "zero")->authorized_keys.empty());
  // Read as leak (uid 1001), who may not read shadow: nothing of it, and said so.
  EXPECT_TRUE(Find(inv, "leak")->authorized_keys.empty());
  EXPECT_EQ(ToJson(inv).dump().find("secret-hash"), std::string::npos);
  ASSERT_EQ(Find(inv, "big")->authorized_keys.size(), 2u);  // the blanks line and 1 MiB of the rest
  EXPECT_EQ(inv.problems,
            (std::vector<std::string>{"/home/big/.ssh/authorized_keys: larger than 1048576 bytes; the rest not read",
                                      "/home/fifo/.ssh/authorized_keys: not a regular file, not read",
                                      "/home/leak/.ssh/authorized_keys: cannot be read",
                                      "/home/zero/.ssh/authorized_keys: not a regular file, not read"}));
}

// Every way sudoers names users: #uid, a comma list, a User_Alias (of a %group), a relative
// include, files that include each other; what the files cannot resolve is a problem.
TEST(InventoryTest, SudoersRulesNameUsersEveryWaySudoDoes) {
  TempDir dir;
  const std::string r = Tree(dir);
  Put(r + "/etc/passwd",
      "a:x:1001:1001::/h:/bin/sh\nb:x:1002:1002::/h:/bin/sh\nc:x:1003:1003::/h:/bin/sh\n"
      "d:x:1004:1004::/h:/bin/sh\ne:x:1005:1005::/h:/bin/sh\nf:x:1006:1006::/h:/bin/sh\n");
  Put(r + "/etc/group", "ops:x:3000:e\n");
  Put(r + "/etc/shadow", "");
  Put(r + "/etc/sudoers",
      "#1001 ALL=(ALL) NOPASSWD: ALL\n"           // a uid, not a comment
      "b,c ALL=(root) /bin/ls\n"                   // a list
      "User_Alias OPS = d, %ops : OTHER = f\n"
      "OPS ALL=(ALL) ALL\n"
      "ALL ALL=(root) /usr/bin/id\n"
      "ldapuser ALL=(ALL) ALL\n"
      "+admins ALL=(ALL) ALL\n"
      "@include sudoers.local\n");                // relative to /etc
  Put(r + "/etc/sudoers.local", "@include /etc/sudoers\n@includedir more\n");  // a loop
  Put(r + "/etc/more/x", "@include ../sudoers.local\n");
  const Inventory inv = CollectInventory(r);
  std::vector<std::string> names;
  for (const InventoryAccount& a : inv.privileged) names.push_back(a.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(Find(inv, "e")->via, (std::vector<std::string>{"sudoers /etc/sudoers:4"}));
  EXPECT_EQ(inv.problems,
            (std::vector<std::string>{
                "sudoers /etc/sudoers:5: a rule for ALL users: every account may use it",
                "sudoers /etc/sudoers:7: +admins (a netgroup or non-Unix group): not inventoried",
                "ldapuser (sudoers /etc/sudoers:6) is no account of /etc/passwd: not inventoried"}));
}

// What users write reaches the controller and terminals: invalid UTF-8 and control characters
// are replaced, and the report always encodes.
TEST(InventoryTest, TextFromUsersIsCleaned) {
  EXPECT_EQ(CleanText("ok \xff\x1b[2Jé\xc2\x9b\xe2\x82", 100), "ok ??[2Jé???");
  EXPECT_EQ(CleanText("ééé", 5), "éé");  // cut between characters
  EXPECT_EQ(CleanText("\xed\xa0\x80\xf4\x90\x80\x80\xc0\xaf", 100), "?????????");  // surrogate, > U+10FFFF, overlong
  TempDir dir;
  const std::string r = Tree(dir);
  Put(r + "/etc/passwd", "root:x:0:0::/root:/bin/sh\n");
  Put(r + "/etc/group", "");
  Put(r + "/etc/shadow", "");
  Put(r + "/root/.ssh/authorized_keys",
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBfbz7ffaqAmQd8ocTFNXgG5c9CyrW9Z4Pj2tYUtlf9O me\xff\x1b]0;x\x07\n");
  Put(r + "/root/.ssh/backup", "-----BEGIN OPENSSH PRIVATE KEY-----\n");  // not named id_*
  const Inventory inv = CollectInventory(r);
  ASSERT_EQ(inv.privileged.size(), 1u);
  ASSERT_EQ(inv.privileged[0].authorized_keys.size(), 1u);
  EXPECT_EQ(inv.privileged[0].authorized_keys[0].comment, "me??]0;x?");
  EXPECT_NO_THROW(ToJson(inv).dump());
  EXPECT_EQ(inv.root_private_keys, (std::vector<std::string>{"/root/.ssh/backup"}));
}

TEST(InventoryTest, AHostWithoutItsFilesSaysWhatItCouldNotRead) {
  TempDir dir;
  const Inventory inv = CollectInventory(dir.path());
  EXPECT_TRUE(inv.privileged.empty());
  ASSERT_FALSE(inv.problems.empty());
  EXPECT_EQ(inv.problems[0], "/etc/passwd: cannot be read");
}

}  // namespace
}  // namespace warden::testing
