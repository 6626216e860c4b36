// `wardend configure-host`: refusals leave every file as it was, --merge keeps the site's CA and
// KRL in force (judged by ssh-keygen -Q), --revert keeps every later edit.
#include "daemon/configure_host.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <sstream>

#include "daemon/site_trust.h"
#include "tests/test_util.h"

namespace warden {
namespace {

const char* const kNss = "# site\npasswd:         files systemd\ngroup: files\nshadow: files\n";
const char* const kSshd =
    "Include /etc/ssh/sshd_config.d/*.conf\nPort 22\nUsePAM yes\n"
    "Subsystem sftp /usr/lib/openssh/sftp-server\n";
const char* const kPam = "@include common-auth\naccount    required     pam_nologin.so\n";

class ConfigureHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_ / "etc/ssh/sshd_config.d");
    std::filesystem::create_directories(dir_ / "etc/pam.d");
    Write("etc/nsswitch.conf", kNss);
    Write("etc/ssh/sshd_config", kSshd);
    Write("etc/pam.d/sshd", kPam);
    config_.state_dir = dir_ / "state";
    options_.etc = dir_ / "etc";
    options_.config_path = "/etc/warden/host.yaml";
  }
  void Write(const std::string& rel, const std::string& text) {
    testing::WriteAll(dir_ / rel, text);
  }
  std::string Read(const std::string& rel) { return testing::ReadAll(dir_ / rel); }
  absl::Status Configure() {
    std::ostringstream out;
    return ConfigureHost(config_, options_, out);
  }
  absl::Status Revert() {
    std::ostringstream out;
    return RevertHost(config_, options_, out);
  }
  // The three files, to compare before and after.
  std::string Snapshot() {
    return Read("etc/nsswitch.conf") + "\n--\n" + Read("etc/ssh/sshd_config") + "\n--\n" +
           Read("etc/pam.d/sshd");
  }
  // Runs a shell command in the temp dir; fails the test when it fails.
  std::string Sh(const std::string& cmd) {
    auto r = testing::RunCommand("cd " + dir_.path() + " && " + cmd);
    EXPECT_EQ(r.exit_code, 0) << cmd << ": " << r.output;
    return r.output;
  }
  // True when ssh-keygen, reading the KRL sshd reads, says `cert` is revoked.
  bool Revoked(const std::string& cert) {
    auto r = testing::RunCommand("ssh-keygen -Q -f " + config_.StatePath("revoked_keys.krl") +
                                 " " + (dir_ / cert));
    return r.output.find("REVOKED") != std::string::npos;
  }

  testing::TempDir dir_;
  HostConfig config_;
  ConfigureOptions options_;
};

TEST_F(ConfigureHostTest, WritesBlocksAtTheTopAndASecondRunChangesNothing) {
  ASSERT_TRUE(Configure().ok());
  const std::string once = Snapshot();
  EXPECT_EQ(Read("etc/nsswitch.conf"),
            "# site\npasswd:         files warden systemd\ngroup: files warden\nshadow: files\n");
  EXPECT_EQ(Read("etc/ssh/sshd_config").rfind("# BEGIN warden", 0), 0u);
  EXPECT_NE(Read("etc/ssh/sshd_config").find("# END warden\n" + std::string(kSshd)),
            std::string::npos);
  EXPECT_NE(Read("etc/pam.d/sshd").find("account    requisite  pam_warden.so\n"), std::string::npos);
  // sshd refuses every public key when its RevokedKeys file is missing: it exists at once.
  EXPECT_TRUE(std::filesystem::exists(config_.StatePath("revoked_keys.krl")));
  ASSERT_TRUE(Configure().ok());
  EXPECT_EQ(Snapshot(), once);
}

TEST_F(ConfigureHostTest, BeginWithoutEndInSshdConfigIsRefusedAndNothingChanges) {
  // An END line lost to a hand edit: erasing "to the end of the file" would take UsePAM, the
  // Include and the Subsystem line with it.
  Write("etc/ssh/sshd_config", std::string("# BEGIN warden: old\nRevokedKeys /var/lib/warden/revoked_keys.krl\n") + kSshd);
  const std::string before = Snapshot();
  absl::Status st = Configure();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("etc/ssh/sshd_config:1: \"# BEGIN warden\" has no \"# END warden\""),
            std::string::npos) << st.message();
  EXPECT_EQ(Snapshot(), before);
  st = Revert();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("has no \"# END warden\""), std::string::npos) << st.message();
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(ConfigureHostTest, BeginWithoutEndInPamIsRefusedAndNothingChanges) {
  Write("etc/pam.d/sshd", std::string(kPam) + "# BEGIN warden\naccount requisite pam_warden.so\n"
                          "session required pam_loginuid.so\n");
  const std::string before = Snapshot();
  absl::Status st = Configure();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("etc/pam.d/sshd:3:"), std::string::npos) << st.message();
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(ConfigureHostTest, EndWithoutBeginAndTwoBlocksAreRefused) {
  Write("etc/pam.d/sshd", std::string(kPam) + "# END warden\n");
  EXPECT_NE(Configure().message().find("etc/pam.d/sshd:3: \"# END warden\" without"),
            std::string::npos);
  Write("etc/pam.d/sshd", "# BEGIN warden\n# END warden\n# BEGIN warden\n# END warden\n");
  EXPECT_NE(Configure().message().find("etc/pam.d/sshd:3: a second"), std::string::npos);
}

TEST_F(ConfigureHostTest, SiteRevokedKeysIsRefusedNamingTheLine) {
  Write("etc/ssh/sshd_config", std::string(kSshd) + "RevokedKeys /etc/ssh/revoked.krl\n");
  const std::string before = Snapshot();
  absl::Status st = Configure();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("etc/ssh/sshd_config:5: \"RevokedKeys /etc/ssh/revoked.krl\""),
            std::string::npos) << st.message();
  EXPECT_NE(st.message().find("keys the site revoked would log in again"), std::string::npos);
  EXPECT_NE(st.message().find("--merge"), std::string::npos);
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(ConfigureHostTest, SiteCaKeysInAnIncludedFileAreRefused) {
  Write("etc/ssh/sshd_config.d/10-site.conf", "# site CA\nTrustedUserCAKeys=\"/etc/ssh/ca.pub\"\n");
  const std::string before = Snapshot();
  absl::Status st = Configure();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("sshd_config.d/10-site.conf:2: \"TrustedUserCAKeys /etc/ssh/ca.pub\""),
            std::string::npos) << st.message();
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(ConfigureHostTest, SitePrincipalsCommandIsRefusedEvenWithMerge) {
  Write("etc/ssh/sshd_config", std::string(kSshd) + "AuthorizedPrincipalsCommand /usr/local/bin/p %u\n");
  options_.merge = true;
  absl::Status st = Configure();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("sshd_config:5: \"AuthorizedPrincipalsCommand /usr/local/bin/p %u\""),
            std::string::npos) << st.message();
  EXPECT_NE(st.message().find("cannot combine two commands"), std::string::npos);
}

TEST_F(ConfigureHostTest, RevokedKeysInsideMatchIsRefusedEvenWithMerge) {
  // Inside a Match block the site's value replaces Warden's for the connections it selects.
  Write("etc/ssh/sshd_config", std::string(kSshd) + "Match User deploy\n  RevokedKeys /etc/ssh/deploy.krl\n");
  options_.merge = true;
  const std::string before = Snapshot();
  absl::Status st = Configure();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("sshd_config:6: \"RevokedKeys /etc/ssh/deploy.krl\": inside the block "
                              "of \"Match\" at " + (dir_ / "etc/ssh/sshd_config") + ":5"),
            std::string::npos) << st.message();
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(ConfigureHostTest, NoneAndLinesSshdAlreadyIgnoredAreNoConflict) {
  Write("etc/ssh/sshd_config", std::string(kSshd) +
                                   "RevokedKeys none\nRevokedKeys /etc/ssh/never-read.krl\n"
                                   "AuthorizedPrincipalsCommand none\n");
  EXPECT_TRUE(Configure().ok());
}

TEST_F(ConfigureHostTest, MergeKeepsTheSiteCaAndKrlInForceAlongsideWardens) {
  Sh("ssh-keygen -q -t ed25519 -N '' -C site-ca -f site_ca && ssh-keygen -q -t ed25519 -N '' -C warden-ca -f warden_ca"
     " && ssh-keygen -q -t ed25519 -N '' -f user");
  Sh("ssh-keygen -q -s site_ca -I site-revoked -n root -z 7 user.pub && mv user-cert.pub site7.pub"
     " && ssh-keygen -q -s site_ca -I site-good -n root -z 8 user.pub && mv user-cert.pub site8.pub"
     " && ssh-keygen -q -s warden_ca -I warden-revoked -n adm -z 9 user.pub && mv user-cert.pub warden9.pub"
     " && ssh-keygen -q -s warden_ca -I warden-good -n adm -z 10 user.pub && mv user-cert.pub warden10.pub");
  Sh("echo 'serial: 7' > site.spec && ssh-keygen -q -k -f site.krl -s site_ca.pub site.spec"
     " && echo 'serial: 9' > warden.spec && ssh-keygen -q -k -f warden.krl -s warden_ca.pub warden.spec");
  Write("etc/ssh/sshd_config", std::string(kSshd) + "TrustedUserCAKeys " + (dir_ / "site_ca.pub") +
                                   "\nRevokedKeys " + (dir_ / "site.krl") + "\n");
  ASSERT_FALSE(Configure().ok()) << "refused without --merge";
  options_.merge = true;
  ASSERT_TRUE(Configure().ok());
  // The controller's state arrives: its CA and KRL, with the site's merged in.
  ASSERT_TRUE(WriteControllerTrust(config_, Read("warden_ca.pub"), Read("warden.krl")).ok());
  ASSERT_TRUE(RefreshSshdTrustFiles(config_).ok());
  const std::string cas = testing::ReadAll(config_.StatePath("trusted_user_ca_keys"));
  EXPECT_EQ(cas.find(Read("warden_ca.pub")), 0u) << cas;
  EXPECT_NE(cas.find(Read("site_ca.pub")), std::string::npos) << cas;
  EXPECT_TRUE(Revoked("site7.pub"));
  EXPECT_FALSE(Revoked("site8.pub"));
  EXPECT_TRUE(Revoked("warden9.pub"));
  EXPECT_FALSE(Revoked("warden10.pub"));
  // The site revokes another certificate in its own KRL: in force at the next refresh.
  Sh("echo 'serial: 8' > site.spec && ssh-keygen -q -k -u -f site.krl -s site_ca.pub site.spec");
  ASSERT_TRUE(RefreshSshdTrustFiles(config_).ok());
  EXPECT_TRUE(Revoked("site8.pub"));
  // Runs without --merge accept what was merged, and change nothing.
  options_.merge = false;
  const std::string before = Snapshot();
  ASSERT_TRUE(Configure().ok());
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(ConfigureHostTest, MergeBeforeTheFirstStateNeverCountsTheSiteCaAsWardens) {
  // warden-principals lets only the CAs in the controller's copy reach Warden accounts.
  Sh("ssh-keygen -q -t ed25519 -N '' -C site-ca -f site_ca");
  Write("etc/ssh/sshd_config", std::string(kSshd) + "TrustedUserCAKeys " + (dir_ / "site_ca.pub") + "\n");
  options_.merge = true;
  ASSERT_TRUE(Configure().ok());
  ASSERT_TRUE(RefreshSshdTrustFiles(config_).ok());
  ASSERT_TRUE(RefreshSshdTrustFiles(config_).ok());
  EXPECT_EQ(testing::ReadAll(config_.StatePath("controller_trusted_user_ca_keys")), "");
  EXPECT_EQ(testing::ReadAll(config_.StatePath("site_trusted_user_ca_keys")), Read("site_ca.pub"));
  const std::string cas = testing::ReadAll(config_.StatePath("trusted_user_ca_keys"));
  const std::string key = Read("site_ca.pub");
  EXPECT_NE(cas.find(key), std::string::npos);
  EXPECT_EQ(cas.find(key), cas.rfind(key)) << "the site's key once: " << cas;
}

// Only Warden's CAs trusted: sshd reads the principals files wardend keeps, and runs no
// command. With the site's CA merged beside them, the command (which sees the CA) decides.
TEST_F(ConfigureHostTest, PrincipalsFileUnlessASiteCaIsMerged) {
  ASSERT_TRUE(Configure().ok());
  std::string sshd = Read("etc/ssh/sshd_config");
  EXPECT_NE(sshd.find("AuthorizedPrincipalsFile " + config_.StatePath("principals") + "/%u\n"),
            std::string::npos) << sshd;
  EXPECT_EQ(sshd.find("AuthorizedPrincipalsCommand"), std::string::npos) << sshd;

  Sh("ssh-keygen -q -t ed25519 -N '' -C site-ca -f site_ca");
  Write("etc/ssh/sshd_config", sshd + "TrustedUserCAKeys " + (dir_ / "site_ca.pub") + "\n");
  options_.merge = true;
  ASSERT_TRUE(Configure().ok());
  sshd = Read("etc/ssh/sshd_config");
  EXPECT_NE(sshd.find("AuthorizedPrincipalsCommand /usr/lib/warden/warden-principals --config "
                      "/etc/warden/host.yaml --ca-key %K %u\nAuthorizedPrincipalsCommandUser nobody\n"),
            std::string::npos) << sshd;
  EXPECT_EQ(sshd.find("AuthorizedPrincipalsFile"), std::string::npos) << sshd;
}

TEST_F(ConfigureHostTest, MergeOfAnUnreadableSiteKrlIsRefused) {
  Write("site.krl", std::string("SSHKRL\n\0\0\0", 11));  // a KRL cut short
  Write("etc/ssh/sshd_config", std::string(kSshd) + "RevokedKeys " + (dir_ / "site.krl") + "\n");
  options_.merge = true;
  const std::string before = Snapshot();
  absl::Status st = Configure();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("is not a valid KRL"), std::string::npos) << st.message();
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(ConfigureHostTest, RevertKeepsEveryLaterEditByteForByte) {
  ASSERT_TRUE(Configure().ok());
  // Edits made after the first run, to each file.
  Write("etc/nsswitch.conf", Read("etc/nsswitch.conf") + "hosts: files dns\n");
  Write("etc/ssh/sshd_config", Read("etc/ssh/sshd_config") + "X11Forwarding no\n");
  std::string pam = Read("etc/pam.d/sshd");
  pam.replace(pam.find("pam_nologin.so"), 14, "pam_nologin.so  # keep");
  Write("etc/pam.d/sshd", pam);
  ASSERT_TRUE(Revert().ok());
  EXPECT_EQ(Read("etc/nsswitch.conf"), std::string(kNss) + "hosts: files dns\n");
  EXPECT_EQ(Read("etc/ssh/sshd_config"), std::string(kSshd) + "X11Forwarding no\n");
  EXPECT_EQ(Read("etc/pam.d/sshd"),
            "@include common-auth\naccount    required     pam_nologin.so  # keep\n");
  EXPECT_NE(Revert().message().find("has not been run"), std::string::npos);
}

TEST_F(ConfigureHostTest, RevertLeavesAWardenNsswitchEntryTheSiteHadBefore) {
  Write("etc/nsswitch.conf", "passwd: files warden\ngroup: files\n");
  ASSERT_TRUE(Configure().ok());
  ASSERT_TRUE(Revert().ok());
  EXPECT_EQ(Read("etc/nsswitch.conf"), "passwd: files warden\ngroup: files\n");
}

TEST_F(ConfigureHostTest, RevertsAHostConfiguredByAnOlderWardend) {
  // The older wardend kept whole copies of the files instead of a record of its edits.
  ASSERT_TRUE(Configure().ok());
  std::filesystem::remove(config_.StatePath("configure-host.json"));
  std::filesystem::create_directories(config_.StatePath("configure-host-backup"));
  testing::WriteAll(config_.StatePath("configure-host-backup/nsswitch.conf"), kNss);
  testing::WriteAll(config_.StatePath("configure-host-backup/manifest.json"), "{}\n");
  Write("etc/ssh/sshd_config", Read("etc/ssh/sshd_config") + "X11Forwarding no\n");
  ASSERT_TRUE(Revert().ok());
  EXPECT_EQ(Read("etc/nsswitch.conf"), kNss);
  EXPECT_EQ(Read("etc/ssh/sshd_config"), std::string(kSshd) + "X11Forwarding no\n");
  EXPECT_EQ(Read("etc/pam.d/sshd"), kPam);
  EXPECT_FALSE(std::filesystem::exists(config_.StatePath("configure-host-backup")));
}

TEST_F(ConfigureHostTest, RelativeConfigPathIsRefused) {
  options_.config_path = "host.yaml";
  const std::string before = Snapshot();
  absl::Status st = Configure();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("pass an absolute --config"), std::string::npos) << st.message();
  EXPECT_EQ(Snapshot(), before);
}

}  // namespace
}  // namespace warden
