// libnss_warden.so.2, loaded with dlopen exactly as glibc loads it, and through real glibc.
#include <dlfcn.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/nsscache_writer.h"
#include "tests/test_util.h"

namespace warden {
namespace {

using GetPwNam = nss_status (*)(const char*, passwd*, char*, size_t, int*);
using GetPwUid = nss_status (*)(uid_t, passwd*, char*, size_t, int*);
using GetGrNam = nss_status (*)(const char*, group*, char*, size_t, int*);
using GetGrGid = nss_status (*)(gid_t, group*, char*, size_t, int*);
using SetEnt = nss_status (*)(int);
using GetPwEnt = nss_status (*)(passwd*, char*, size_t, int*);
using InitGroups = nss_status (*)(const char*, gid_t, long*, long*, gid_t**, long, int*);

class NssModule : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    handle_ = dlopen(WARDEN_NSS_MODULE_PATH, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(handle_, nullptr) << dlerror();
  }
  void SetUp() override {
    setenv("WARDEN_NSS_CACHE", (dir_ / "nss.cache").c_str(), 1);
    getpwnam_ = Sym<GetPwNam>("_nss_warden_getpwnam_r");
    getpwuid_ = Sym<GetPwUid>("_nss_warden_getpwuid_r");
    getgrnam_ = Sym<GetGrNam>("_nss_warden_getgrnam_r");
    getgrgid_ = Sym<GetGrGid>("_nss_warden_getgrgid_r");
    setpwent_ = Sym<SetEnt>("_nss_warden_setpwent");
    getpwent_ = Sym<GetPwEnt>("_nss_warden_getpwent_r");
    initgroups_ = Sym<InitGroups>("_nss_warden_initgroups_dyn");
  }
  template <typename T>
  T Sym(const char* name) {
    return reinterpret_cast<T>(dlsym(handle_, name));
  }
  void Write(std::vector<NssUser> users, std::vector<NssGroup> groups) {
    auto image = BuildNssCache(std::move(users), std::move(groups), ++generation_);
    ASSERT_TRUE(image.ok()) << image.status().message();
    ASSERT_TRUE(WriteNssCacheFile(dir_ / "nss.cache", *image).ok());
    // The module looks for a replaced file at most every 100 ms.
    std::this_thread::sleep_for(std::chrono::milliseconds(120));
  }
  void WriteAlice(int64_t expires) {
    Write({{"adm-alice-7k2f", "Warden grant g-7k2f", "/home/adm-alice-7k2f", "/bin/bash", 2000001,
            2000001, expires}},
          {{"adm-alice-7k2f", 2000001, {}, expires}, {"warden-admins", 2100000,
            {"adm-alice-7k2f", "adm-bob-99zz"}, expires}});
  }
  int64_t Later() { return time(nullptr) + 3600; }

  static inline void* handle_ = nullptr;
  testing::TempDir dir_;
  uint64_t generation_ = 0;
  GetPwNam getpwnam_;
  GetPwUid getpwuid_;
  GetGrNam getgrnam_;
  GetGrGid getgrgid_;
  SetEnt setpwent_;
  GetPwEnt getpwent_;
  InitGroups initgroups_;
};

TEST_F(NssModule, ResolvesUsersByNameAndUid) {
  WriteAlice(Later());
  passwd pw;
  char buf[1024];
  int err = 0;
  ASSERT_EQ(getpwnam_("adm-alice-7k2f", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
  EXPECT_STREQ(pw.pw_name, "adm-alice-7k2f");
  EXPECT_EQ(pw.pw_uid, 2000001u);
  EXPECT_EQ(pw.pw_gid, 2000001u);
  EXPECT_STREQ(pw.pw_dir, "/home/adm-alice-7k2f");
  EXPECT_STREQ(pw.pw_shell, "/bin/bash");
  EXPECT_STREQ(pw.pw_passwd, "*");
  // Every pointer points into the caller's buffer.
  for (const char* p : {pw.pw_name, pw.pw_passwd, pw.pw_gecos, pw.pw_dir, pw.pw_shell}) {
    EXPECT_TRUE(p >= buf && p < buf + sizeof(buf));
  }
  ASSERT_EQ(getpwuid_(2000001, &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
  EXPECT_STREQ(pw.pw_name, "adm-alice-7k2f");
  EXPECT_EQ(getpwnam_("root", &pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
  EXPECT_EQ(getpwuid_(0, &pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
}

TEST_F(NssModule, ExpiredEntriesAreNeverReturned) {
  WriteAlice(time(nullptr) - 1);
  passwd pw;
  group gr;
  char buf[1024];
  int err = 0;
  EXPECT_EQ(getpwnam_("adm-alice-7k2f", &pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
  EXPECT_EQ(getpwuid_(2000001, &pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
  EXPECT_EQ(getgrnam_("warden-admins", &gr, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
  setpwent_(0);
  EXPECT_EQ(getpwent_(&pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
}

TEST_F(NssModule, SmallBuffersGetTryAgainWithErangeAtEverySize) {
  WriteAlice(Later());
  std::vector<char> buf(512);
  size_t needed = 0;
  for (size_t n = 0; n < buf.size(); n++) {
    std::fill(buf.begin(), buf.end(), '\x5a');
    passwd pw;
    int err = 0;
    nss_status st = getpwnam_("adm-alice-7k2f", &pw, buf.data(), n, &err);
    // Nothing is written past the size we gave.
    for (size_t i = n; i < buf.size(); i++) ASSERT_EQ(buf[i], '\x5a') << "n=" << n;
    if (st == NSS_STATUS_SUCCESS) {
      needed = n;
      break;
    }
    ASSERT_EQ(st, NSS_STATUS_TRYAGAIN) << n;
    ASSERT_EQ(err, ERANGE) << n;
  }
  EXPECT_GT(needed, 0u);
  for (size_t n = 0; n < buf.size(); n++) {
    group gr;
    int err = 0;
    nss_status st = getgrnam_("warden-admins", &gr, buf.data(), n, &err);
    if (st == NSS_STATUS_SUCCESS) {
      ASSERT_NE(gr.gr_mem[0], nullptr);
      EXPECT_STREQ(gr.gr_mem[0], "adm-alice-7k2f");
      EXPECT_STREQ(gr.gr_mem[1], "adm-bob-99zz");
      EXPECT_EQ(gr.gr_mem[2], nullptr);
      break;
    }
    ASSERT_EQ(st, NSS_STATUS_TRYAGAIN) << n;
    ASSERT_EQ(err, ERANGE);
  }
}

TEST_F(NssModule, ErrnoIsUntouchedOnSuccess) {
  WriteAlice(Later());
  passwd pw;
  char buf[1024];
  int err = 0;
  errno = 4242;
  ASSERT_EQ(getpwnam_("adm-alice-7k2f", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
  EXPECT_EQ(errno, 4242);
}

TEST_F(NssModule, MissingOrCorruptCacheIsUnavailableNotACrash) {
  passwd pw;
  char buf[1024];
  int err = 0;
  EXPECT_EQ(getpwnam_("adm-alice-7k2f", &pw, buf, sizeof(buf), &err), NSS_STATUS_UNAVAIL);
  WriteAlice(Later());
  std::string image = testing::ReadAll(dir_ / "nss.cache");
  for (size_t cut : {size_t{0}, size_t{7}, size_t{100}, image.size() - 1}) {
    testing::WriteAll(dir_ / "nss.cache.tmp", image.substr(0, cut));
    std::filesystem::rename(dir_ / "nss.cache.tmp", dir_ / "nss.cache");
    std::this_thread::sleep_for(std::chrono::milliseconds(120));
    EXPECT_EQ(getpwnam_("adm-alice-7k2f", &pw, buf, sizeof(buf), &err), NSS_STATUS_UNAVAIL) << cut;
  }
  std::string bad = image;
  bad[bad.size() - 1] = 'x';  // the string pool no longer ends in NUL
  testing::WriteAll(dir_ / "nss.cache.tmp", bad);
  std::filesystem::rename(dir_ / "nss.cache.tmp", dir_ / "nss.cache");
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  EXPECT_EQ(getpwnam_("adm-alice-7k2f", &pw, buf, sizeof(buf), &err), NSS_STATUS_UNAVAIL);
}

TEST_F(NssModule, ReplacedFileIsPickedUp) {
  WriteAlice(Later());
  passwd pw;
  char buf[1024];
  int err = 0;
  ASSERT_EQ(getpwnam_("adm-alice-7k2f", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
  Write({{"adm-carol-1111", "", "/home/c", "/bin/sh", 2000002, 2000002, Later()}}, {});
  EXPECT_EQ(getpwnam_("adm-alice-7k2f", &pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
  EXPECT_EQ(getpwnam_("adm-carol-1111", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
}

TEST_F(NssModule, EnumerationAndInitgroups) {
  std::vector<NssUser> users;
  for (int i = 0; i < 50; i++) {
    users.push_back({"adm-u" + std::to_string(i), "", "/h", "/bin/sh", 3000000u + i, 3000000u + i,
                     i % 10 == 0 ? 1 : Later()});
  }
  Write(users, {{"g1", 4000001, {"adm-u1", "adm-u2"}, Later()},
                {"g2", 4000002, {"adm-u1"}, Later()},
                {"g3", 4000003, {"adm-u1"}, 1}});
  passwd pw;
  char buf[256];
  int err = 0;
  int n = 0;
  setpwent_(0);
  while (getpwent_(&pw, buf, sizeof(buf), &err) == NSS_STATUS_SUCCESS) n++;
  EXPECT_EQ(n, 45);  // five are expired
  long start = 0, size = 1;
  gid_t* groups = static_cast<gid_t*>(malloc(sizeof(gid_t)));
  ASSERT_EQ(initgroups_("adm-u1", 3000001, &start, &size, &groups, 0, &err), NSS_STATUS_SUCCESS);
  std::set<gid_t> got(groups, groups + start);
  free(groups);
  EXPECT_EQ(got, (std::set<gid_t>{4000001, 4000002}));
}

TEST_F(NssModule, ConcurrentLookupsAndRewritesAreSafe) {
  WriteAlice(Later());
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&] {
      char buf[1024];
      passwd pw;
      int err;
      while (!stop) {
        if (getpwnam_("adm-alice-7k2f", &pw, buf, sizeof(buf), &err) == NSS_STATUS_SUCCESS) {
          ASSERT_STREQ(pw.pw_name, "adm-alice-7k2f");
          ok++;
        }
        setpwent_(0);
        while (getpwent_(&pw, buf, sizeof(buf), &err) == NSS_STATUS_SUCCESS) {
        }
      }
    });
  }
  for (int i = 0; i < 10; i++) WriteAlice(Later());
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_GT(ok.load(), 0);
}

TEST(NssModuleBinary, LinksNothingButLibc) {
  auto r = testing::RunCommand(std::string("readelf -d ") + WARDEN_NSS_MODULE_PATH);
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("[libc.so.6]"), std::string::npos);
  EXPECT_EQ(r.output.find("libstdc++"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("libgcc_s"), std::string::npos) << r.output;
  auto syms = testing::RunCommand(std::string("nm -D --defined-only ") + WARDEN_NSS_MODULE_PATH);
  std::istringstream lines(syms.output);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_NE(line.find("_nss_warden_"), std::string::npos) << "unexpected export: " << line;
  }
}

// Real glibc: getent and id in a private mount namespace whose nsswitch.conf lists warden and
// whose loader cache knows the build directory.
TEST(NssModuleGlibc, GetentAndIdResolveThroughTheModule) {
  testing::TempDir dir;
  auto image = BuildNssCache(
      {{"adm-alice-7k2f", "Warden", "/home/adm-alice-7k2f", "/bin/sh", 2000001, 2000001,
        time(nullptr) + 3600},
       {"adm-old-0000", "", "/h", "/bin/sh", 2000009, 2000009, time(nullptr) - 5}},
      {{"adm-alice-7k2f", 2000001, {}, time(nullptr) + 3600},
       {"warden-sudo", 2100000, {"adm-alice-7k2f"}, time(nullptr) + 3600}},
      1);
  ASSERT_TRUE(image.ok());
  ASSERT_TRUE(WriteNssCacheFile(dir / "nss.cache", *image).ok());
  const std::string module_dir = std::filesystem::path(WARDEN_NSS_MODULE_PATH).parent_path();
  testing::WriteAll(dir / "ld.so.conf", module_dir + "\ninclude /etc/ld.so.conf.d/*.conf\n");
  ASSERT_EQ(testing::RunCommand("ldconfig -C " + dir / "ld.so.cache" + " -f " + dir / "ld.so.conf")
                .exit_code,
            0);
  testing::WriteAll(dir / "nsswitch.conf",
                    "passwd: files warden\ngroup: files warden\nshadow: files\n");
  auto in_ns = [&](const std::string& cmd) {
    return testing::RunCommand(
        "WARDEN_NSS_CACHE=" + dir / "nss.cache" + " unshare -m sh -c 'mount --bind " +
        dir / "nsswitch.conf" + " /etc/nsswitch.conf && mount --bind " + dir / "ld.so.cache" +
        " /etc/ld.so.cache && " + cmd + "'");
  };
  auto getent = in_ns("getent passwd adm-alice-7k2f");
  ASSERT_EQ(getent.exit_code, 0) << getent.output;
  EXPECT_EQ(getent.output, "adm-alice-7k2f:*:2000001:2000001:Warden:/home/adm-alice-7k2f:/bin/sh\n");
  auto id = in_ns("id adm-alice-7k2f");
  ASSERT_EQ(id.exit_code, 0) << id.output;
  EXPECT_NE(id.output.find("groups=2000001(adm-alice-7k2f),2100000(warden-sudo)"),
            std::string::npos)
      << id.output;
  EXPECT_EQ(in_ns("getent passwd adm-old-0000").exit_code, 2);  // expired: not found
  EXPECT_EQ(in_ns("getent passwd root").output.rfind("root:x:0:0:", 0), 0u);  // files still answers
}

}  // namespace
}  // namespace warden
