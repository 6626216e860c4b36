// Dynamic database credentials: the rules with a recording driver, and the whole thing against a
// real PostgreSQL (initdb in a temp dir, on a loopback port, password authentication).
#include "controller/core/db_credentials.h"

#include <functional>
#include <utility>

#include "common/strings.h"
#include "controller/db/postgres_driver.h"
#include "tests/controller/fixture.h"
#include "tests/postgres.h"

namespace warden::testing {
namespace {

constexpr const char* kDbPolicy = R"(
  readers: [alice, "o'brien\"; DROP ROLE warden_admin; --"]
vault:
  paths:
    "db/*": {write: [admins]}
databases:
  connections:
    appdb:
      host: 127.0.0.1
      port: PORT
      database: postgres
      admin_user: warden_admin
      admin_password: db/appdb/admin
      allowed_roles: [readonly]
  roles:
    readonly:
      connection: appdb
      requesters: [readers, operators]
      default_ttl: 1h
      max_ttl: 2h
      creation_statements:
        - CREATE ROLE {{name}} LOGIN PASSWORD {{password}} VALID UNTIL {{expiration}}
        - GRANT pg_read_all_data TO {{name}}
      renew_statements:
        - ALTER ROLE {{name}} VALID UNTIL {{expiration}}
      revocation_statements:
        - DROP ROLE IF EXISTS {{name}}
)";

// Statements as a driver would have run them, and failures on demand.
class RecordingDriver final : public DatabaseDriver {
 public:
  absl::Status Execute(const DbConnectionPolicy&, const SecretBytes& admin,
                       const std::vector<std::string>& statements) override {
    admin_seen = std::string(admin.view());
    if (auto hook = std::exchange(during, nullptr)) hook();
    if (fail) return absl::UnavailableError("database down");
    for (const auto& s : statements) ran.push_back(s);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<std::string>> ListRoles(const DbConnectionPolicy&, const SecretBytes&,
                                                     std::string_view) override {
    return std::vector<std::string>{};
  }
  // Rotation's calls: not made by dynamic credentials (rotation_test.cc covers them).
  absl::Status SetPassword(const DbConnectionPolicy&, const SecretBytes&, std::string_view,
                           const SecretBytes&) override {
    return absl::UnimplementedError("not a rotation test");
  }
  absl::Status Authenticate(const DbConnectionPolicy&, std::string_view,
                            const SecretBytes&) override {
    return absl::UnimplementedError("not a rotation test");
  }
  std::vector<std::string> ran;
  std::string admin_seen;
  bool fail = false;
  std::function<void()> during;  // runs once, inside the next Execute
};

class DbCredentialsTest : public CoreFixture {
 protected:
  void SetUp() override {
    CoreFixture::SetUp();
    audit_ = OpenAuditLog();
    ASSERT_TRUE(InitializeVault(*store_, keys_, VaultInit{"pkcs11", 5, 3}).ok());
  }
  // The policy with the connection on `port`, and the cores over it.
  void Load(int port) {
    std::string yaml = std::string(kTestPolicy) + kDbPolicy;
    yaml.replace(yaml.find("PORT"), 4, std::to_string(port));
    auto policy = ParsePolicy(MoveReaders(yaml));
    ASSERT_TRUE(policy.ok()) << policy.status().message();
    policy_ = std::move(*policy);
    vault_ = std::make_unique<Vault>(policy_, *store_, keys_, *audit_, clock_);
    ASSERT_TRUE(vault_->Start().ok());
    ASSERT_TRUE(vault_->Put(Who("root"), "db/appdb/admin", ToBytes("adminpw")).ok());
    Restart();
  }
  // A new DatabaseCredentials over the same store: what a controller restart does.
  void Restart() {
    db_ = std::make_unique<DatabaseCredentials>(policy_, *store_, *vault_, *driver_, *audit_, clock_);
  }
  // The readers group goes under kTestPolicy's groups.
  static std::string MoveReaders(std::string yaml) {
    const std::string line = "  readers: [alice, \"o'brien\\\"; DROP ROLE warden_admin; --\"]\n";
    const size_t at = yaml.find(line);
    yaml.erase(at, line.size());
    yaml.insert(yaml.find("groups:\n") + 8, line);
    return yaml;
  }
  Identity Who(const std::string& user) {
    Identity id;
    id.user = user;
    id.groups = policy_.GroupsOf(user);
    return id;
  }
  std::string Audit() { return ReadAll(dir_ / "audit.log"); }

  Policy policy_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<Vault> vault_;
  std::unique_ptr<DatabaseDriver> driver_ = std::make_unique<RecordingDriver>();
  std::unique_ptr<DatabaseCredentials> db_;
};

TEST(DbTemplates, ValuesAreQuotedSoNoneCanEndTheStatement) {
  EXPECT_EQ(RenderStatement("CREATE ROLE {{name}} PASSWORD {{password}} VALID UNTIL {{expiration}}",
                            "a\"b", "p'q", 1800000000),
            "CREATE ROLE \"a\"\"b\" PASSWORD 'p''q' VALID UNTIL '2027-01-15 08:00:00+00'");
  EXPECT_EQ(RenderStatement("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = "
                            "{{name_literal}}",
                            "a'b", "", 0),
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'a''b'");
}

TEST(DbTemplates, APlaceholderTheTemplateQuotesItselfIsRefusedAtPolicyLoad) {
  for (const auto& [statement, why] : std::vector<std::pair<std::string, std::string>>{
           {"CREATE ROLE {{name}} PASSWORD '{{password}}'", "inside quotes"},
           {"CREATE ROLE \"{{name}}\"", "inside quotes"},
           {"DO $$ BEGIN EXECUTE 'x' || {{name}}; END $$", "inside quotes"},
           {"DO $body$ BEGIN EXECUTE {{name}}; END $body$", "inside quotes"},
           {"CREATE ROLE x PASSWORD E'\\' {{password}} '", "inside quotes"},
           {"/* ' */ CREATE ROLE {{name}} PASSWORD '{{password}}' /* ' */", "inside quotes"},
           {"CREATE ROLE x -- {{name}}", "inside quotes or a comment"},
           {"CREATE ROLE {{username}}", "unknown placeholder"},
           {"CREATE ROLE {{name}} PASSWORD 'x", "not closed"},
           {"CREATE ROLE {{name}} /* x", "not closed"}}) {
    const absl::Status st = CheckStatementTemplate(statement);
    EXPECT_FALSE(st.ok()) << statement;
    EXPECT_NE(st.message().find(why), std::string::npos) << st.message();
  }
  for (const std::string ok : {"CREATE ROLE {{name}} PASSWORD {{password}} IN ROLE \"app\"",
                               "GRANT a$$b TO {{name}}", "SELECT $1, 'it''s' /* c */, {{name}}",
                               "COMMENT ON ROLE {{name}} IS E'a\\'b'"}) {
    EXPECT_TRUE(CheckStatementTemplate(ok).ok()) << ok << ": " << CheckStatementTemplate(ok).message();
  }
  auto p = ParsePolicy(R"(
groups: {admins: [root], ops: [alice]}
databases:
  connections: {c: {admin_user: a, admin_password: db/a, allowed_roles: [r]}}
  roles:
    r:
      connection: c
      requesters: [ops]
      creation_statements: ["CREATE ROLE {{name}} PASSWORD '{{password}}'"]
      revocation_statements: ["DROP ROLE {{name}}"]
)");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("databases.roles.r: statement"), std::string::npos)
      << p.status().message();
}

TEST(DbConnections, PasswordsLeaveTheMachineOnlyOverVerifiedTls) {
  auto parse = [](const std::string& c) {
    return ParsePolicy(std::string(kTestPolicy) + "databases:\n  connections: {c: {admin_user: a, "
                       "admin_password: db/a" + c + "}}\n");
  };
  auto remote = parse(", host: db1.example.org");
  ASSERT_TRUE(remote.ok()) << remote.status().message();
  EXPECT_EQ(remote->databases.connections.at("c").sslmode, "verify-full");
  EXPECT_EQ(remote->databases.connections.at("c").ca_file, "/etc/ssl/certs/ca-certificates.crt");
  auto local = parse("");
  ASSERT_TRUE(local.ok()) << local.status().message();
  EXPECT_EQ(local->databases.connections.at("c").sslmode, "disable") << "loopback needs no TLS";
  for (const auto& [extra, why] : std::vector<std::pair<std::string, std::string>>{
           {", sslmode: prefer", "\"prefer\" is not one of disable, require, verify-ca, verify-full"},
           {", sslmode: require, ca_file: /x.pem", "ca_file is for sslmode verify-ca or verify-full"},
           {", host: \"/run/postgresql,db2.example.org\"", ".host: one host name, address or socket directory"}}) {
    auto p = parse(extra);
    ASSERT_FALSE(p.ok()) << extra;
    EXPECT_NE(p.status().message().find(why), std::string::npos) << p.status().message();
  }
}

TEST(DbTemplates, APolicyNamesOnlyConnectionsAndRolesThatExistAndAllowEachOther) {
  const std::string head = "groups: {admins: [root], ops: [alice]}\ndatabases:\n  connections: {c: {admin_user: a, admin_password: db/a, allowed_roles: [r]}}\n  roles:\n";
  const std::string stmts = "creation_statements: [\"CREATE ROLE {{name}}\"], revocation_statements: [\"DROP ROLE {{name}}\"]";
  for (const auto& [role, why] : std::vector<std::pair<std::string, std::string>>{
           {"    r: {connection: nope, " + stmts + "}", "names unknown connection \"nope\""},
           {"    other: {connection: c, " + stmts + "}", "does not list it in allowed_roles"},
           {"    r: {connection: c, username_template: \"w_{{user}}\", " + stmts + "}", "must contain {{random}}"},
           {"    r: {connection: c, requesters: [nobody], " + stmts + "}", "unknown group \"nobody\""},
           {"    r: {connection: c, creation_statements: [\"CREATE ROLE {{name}}\"]}", "needs creation_statements and revocation_statements"},
           {"    r: {connection: c, creation_statements: [\"CREATE ROLE {{name}}\"], revocation_statements: [\"ALTER ROLE {{name}} PASSWORD {{password}}\"]}", "{{password}} exists only in creation_statements"}}) {
    auto p = ParsePolicy(head + role + "\n");
    ASSERT_FALSE(p.ok()) << role;
    EXPECT_NE(p.status().message().find(why), std::string::npos) << p.status().message();
  }
}

TEST_F(DbCredentialsTest, ARoleIsMadeWithTheAdminsVaultedPasswordAndDroppedWhenCreationFails) {
  ASSERT_NO_FATAL_FAILURE(Load(5432));
  auto& driver = static_cast<RecordingDriver&>(*driver_);
  auto c = db_->Issue(Who("alice"), "readonly", 0);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(driver.admin_seen, "adminpw");
  EXPECT_EQ(c->lease.expires, clock_.Now() + 3600);
  EXPECT_TRUE(c->lease.username.starts_with("w_readonly_alice_")) << c->lease.username;
  ASSERT_EQ(driver.ran.size(), 2u);
  EXPECT_NE(driver.ran[0].find(StrCat("PASSWORD '", c->password.view(), "'")), std::string::npos);
  // Creation fails: the error names the role, and the lease is not left live.
  driver.fail = true;
  auto failed = db_->Issue(Who("alice"), "readonly", 0);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("creating database role readonly on appdb failed"),
            std::string::npos) << failed.status().message();
  driver.fail = false;
  clock_.Advance(2);
  EXPECT_EQ(*db_->RevokeExpired(), 1) << "the failed lease's revocation is retried";
  auto live = db_->List(Who("root"));
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(live->size(), 1u) << "only the good lease is live";
}

TEST_F(DbCredentialsTest, WhoMayAskRenewAndRevoke) {
  ASSERT_NO_FATAL_FAILURE(Load(5432));
  EXPECT_EQ(db_->Issue(Who("carol"), "readonly", 0).status().code(), absl::StatusCode::kPermissionDenied);
  auto missing = db_->Issue(Who("alice"), "dba", 0);
  EXPECT_NE(missing.status().message().find("no database role \"dba\"; the policy has: readonly"),
            std::string::npos) << missing.status().message();
  auto c = db_->Issue(Who("alice"), "readonly", 600);
  ASSERT_TRUE(c.ok());
  // Someone else's lease is no lease; an admin sees and ends anyone's.
  EXPECT_EQ(db_->Revoke(Who("bob"), c->lease.id).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(db_->Renew(Who("bob"), c->lease.id, 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(db_->List(Who("bob"))->empty());
  EXPECT_EQ(db_->RevokePrefix(Who("alice"), "db/").status().code(), absl::StatusCode::kPermissionDenied);
  // A renewal never passes max_ttl (2h) from creation.
  clock_.Advance(300);
  auto renewed = db_->Renew(Who("alice"), c->lease.id, 86400);
  ASSERT_TRUE(renewed.ok()) << renewed.status().message();
  EXPECT_EQ(renewed->expires, c->lease.created + 7200);
  EXPECT_TRUE(db_->Revoke(Who("root"), c->lease.id).ok());
  EXPECT_EQ(db_->Renew(Who("alice"), c->lease.id, 0).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(Audit().find("\"revoked by root\""), std::string::npos);
}

// The expiry loop and a revocation by prefix meet a lease whose role is still being created:
// they leave it alone, so the DROP never runs before the CREATE.
TEST_F(DbCredentialsTest, ALeaseIsNotRevokedWhileItsRoleIsBeingCreated) {
  ASSERT_NO_FATAL_FAILURE(Load(5432));
  auto& driver = static_cast<RecordingDriver&>(*driver_);
  driver.during = [&] {
    clock_.Advance(7200);
    EXPECT_EQ(*db_->RevokeExpired(), 0);
    EXPECT_FALSE(db_->RevokePrefix(Who("root"), "db/").ok());
  };
  auto c = db_->Issue(Who("alice"), "readonly", 1);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(driver.ran.size(), 2u) << "nothing but the creation ran";
  EXPECT_TRUE(driver.ran[0].starts_with("CREATE ROLE"));
  EXPECT_EQ(*db_->RevokeExpired(), 1) << "due once created";
  EXPECT_TRUE(driver.ran.back().starts_with("DROP ROLE"));
}

// A renewal that read the lease before a revocation (which failed, leaving it due) does not
// push its end back out.
TEST_F(DbCredentialsTest, ARenewalDoesNotUndoARevocationThatFailed) {
  ASSERT_NO_FATAL_FAILURE(Load(5432));
  auto& driver = static_cast<RecordingDriver&>(*driver_);
  auto c = db_->Issue(Who("alice"), "readonly", 600);
  ASSERT_TRUE(c.ok());
  driver.during = [&] {
    driver.fail = true;
    EXPECT_FALSE(db_->Revoke(Who("root"), c->lease.id).ok());
    driver.fail = false;
  };
  auto renewed = db_->Renew(Who("alice"), c->lease.id, 3600);
  EXPECT_EQ(renewed.status().code(), absl::StatusCode::kAborted) << renewed.status().message();
  clock_.Advance(2);
  EXPECT_EQ(*db_->RevokeExpired(), 1);
}

// A role moved to another connection: its old leases' roles live on the old server, so their
// revocation fails loudly instead of "succeeding" on the new one.
TEST_F(DbCredentialsTest, ALeaseIsRevokedOnlyOnTheConnectionItsRoleWasMadeOn) {
  ASSERT_NO_FATAL_FAILURE(Load(5432));
  DbLeaseRow old;
  old.id = "db/readonly/old";
  old.role = "readonly";
  old.connection = "olddb";
  old.username = "w_readonly_alice_x";
  old.owner = "alice";
  old.created = clock_.Now() - 100;
  old.expires = clock_.Now() - 10;
  old.max_expires = clock_.Now() + 100;
  ASSERT_TRUE(store_->InsertDbLease(old).ok());
  EXPECT_EQ(*db_->RevokeExpired(), 0);
  EXPECT_TRUE(static_cast<RecordingDriver&>(*driver_).ran.empty());
  EXPECT_NE(Audit().find("moved from connection olddb to appdb"), std::string::npos);
  EXPECT_EQ(db_->List(Who("root"))->size(), 1u);
}

class RealPostgres : public DbCredentialsTest {
 protected:
  void SetUp() override {
    DbCredentialsTest::SetUp();
    ASSERT_TRUE(pg_.Create().ok());
    driver_ = std::make_unique<PostgresDriver>();
    ASSERT_NO_FATAL_FAILURE(Load(pg_.port()));
  }
  int Roles(const std::string& name) {
    return std::stoi(pg_.Sql("SELECT count(*) FROM pg_roles WHERE rolname = '" + name + "'"));
  }
  Postgres pg_;
};

TEST_F(RealPostgres, ARoleLivesExactlyAsLongAsItsLease) {
  auto c = db_->Issue(Who("alice"), "readonly", 600);
  ASSERT_TRUE(c.ok()) << c.status().message();
  const std::string user = c->lease.username;
  EXPECT_EQ(Roles(user), 1);
  EXPECT_TRUE(pg_.LogsIn(user, std::string(c->password.view())));
  EXPECT_FALSE(pg_.LogsIn(user, "not-the-password"));
  EXPECT_EQ(pg_.Sql("SELECT rolvaliduntil > now() FROM pg_roles WHERE rolname = '" + user + "'"), "t");
  ASSERT_TRUE(db_->Revoke(Who("alice"), c->lease.id).ok());
  EXPECT_EQ(Roles(user), 0);
  EXPECT_FALSE(pg_.LogsIn(user, std::string(c->password.view())));
}

// The controller is down when the lease ends: the role goes at its next start.
TEST_F(RealPostgres, ExpiryDropsTheRoleAlsoWhenTheControllerWasDownAtTheTime) {
  auto c = db_->Issue(Who("alice"), "readonly", 60);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(*db_->RevokeExpired(), 0);
  db_.reset();
  clock_.Advance(120);
  Restart();
  EXPECT_EQ(*db_->RevokeExpired(), 1);
  EXPECT_EQ(Roles(c->lease.username), 0);
  EXPECT_TRUE(db_->List(Who("root"))->empty());
}

TEST_F(RealPostgres, AFailedRevocationIsAlertedRetriedWithBackoffAndNeverCountedDone) {
  auto c = db_->Issue(Who("alice"), "readonly", 60);
  ASSERT_TRUE(c.ok()) << c.status().message();
  pg_.Stop();
  clock_.Advance(61);
  EXPECT_EQ(*db_->RevokeExpired(), 0);
  auto live = db_->List(Who("root"));
  ASSERT_EQ(live->size(), 1u) << "a lease whose role may exist is not ended";
  EXPECT_EQ((*live)[0].attempts, 1);
  EXPECT_NE((*live)[0].last_error.find("cannot connect to database appdb"), std::string::npos)
      << (*live)[0].last_error;
  EXPECT_NE(Audit().find("\"event\":\"db.revoke_failed\""), std::string::npos);
  EXPECT_NE(Audit().find("\"alert\":true"), std::string::npos);
  EXPECT_EQ(*db_->RevokeExpired(), 0);
  EXPECT_EQ((*db_->List(Who("root")))[0].attempts, 1) << "not retried before its backoff";
  ASSERT_TRUE(pg_.Start().ok());
  clock_.Advance(1);
  EXPECT_EQ(*db_->RevokeExpired(), 1);
  EXPECT_EQ(Roles(c->lease.username), 0);
}

// Names and passwords that try to end the statement are data to PostgreSQL.
TEST_F(RealPostgres, HostileValuesStayInsideTheirQuotes) {
  PostgresDriver driver;
  const DbConnectionPolicy& conn = policy_.databases.connections.at("appdb");
  const std::string name = "x\"; DROP ROLE warden_admin; --";
  const std::string password = "p'; DROP ROLE warden_admin; --\\";
  ASSERT_TRUE(driver
                  .Execute(conn, SecretBytes(ToBytes("adminpw")),
                           {RenderStatement("CREATE ROLE {{name}} LOGIN PASSWORD {{password}}", name,
                                            password, 0)})
                  .ok());
  EXPECT_EQ(Roles("warden_admin"), 1);
  EXPECT_EQ(pg_.Sql("SELECT count(*) FROM pg_roles WHERE rolname = 'x\"; DROP ROLE warden_admin; --'"), "1");
  EXPECT_TRUE(pg_.LogsIn(name, password));
  // A requester whose name is an attack gets a role named after its letters only.
  auto c = db_->Issue(Who("o'brien\"; DROP ROLE warden_admin; --"), "readonly", 60);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->lease.username.starts_with("w_readonly_o_brien___drop_r_")) << c->lease.username;
  EXPECT_EQ(Roles("warden_admin"), 1);
}

TEST_F(RealPostgres, RevokeByPrefixAndTheOrphanScan) {
  auto a = db_->Issue(Who("alice"), "readonly", 600);
  auto b = db_->Issue(Who("bob"), "readonly", 600);
  ASSERT_TRUE(a.ok() && b.ok());
  pg_.Sql("CREATE ROLE w_readonly_made_by_hand");
  auto orphans = db_->Orphans(Who("root"), "appdb");
  ASSERT_TRUE(orphans.ok()) << orphans.status().message();
  EXPECT_EQ(*orphans, std::vector<std::string>{"w_readonly_made_by_hand"});
  auto n = db_->RevokePrefix(Who("root"), "db/readonly/");
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(Roles(a->lease.username) + Roles(b->lease.username), 0);
}

}  // namespace
}  // namespace warden::testing
