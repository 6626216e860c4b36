#include "controller/core/db_credentials.h"

#include <algorithm>
#include <map>

#include "common/strings.h"
#include "common/totp.h"

namespace warden {
namespace {

constexpr size_t kMaxRoleName = 63;  // PostgreSQL's NAMEDATALEN - 1

// The requester's name as a role name may hold it: a-z, 0-9 and _, at most 16 characters.
std::string RoleNamePart(std::string_view user) {
  std::string out;
  for (char c : user) {
    const char l = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    out += IsLowerAlpha(l) || IsDigit(l) ? l : '_';
    if (out.size() == 16) break;
  }
  return out;
}

// `text` with each {{key}} replaced by value(key). REQUIRES: the placeholders were checked when
// the policy loaded (db_policy.cc), so each {{ has its }}.
template <typename Value>
std::string Expand(std::string_view text, Value value) {
  std::string out;
  for (size_t i = 0; i < text.size(); i++) {
    if (text.compare(i, 2, "{{") != 0) {
      out += text[i];
      continue;
    }
    const size_t end = text.find("}}", i);
    out += value(text.substr(i + 2, end - i - 2));
    i = end + 1;
  }
  return out;
}

std::string RenderUsername(const DbRolePolicy& r, std::string_view user) {
  return Expand(r.username_template, [&](std::string_view key) {
    if (key == "role") return r.name;
    if (key == "user") return RoleNamePart(user);
    return RandomId(10);  // {{random}}
  });
}

// Backoff of the n-th failed revocation in a row: 1 s doubling, at most 5 min.
int64_t RetryDelay(int attempts) { return std::min<int64_t>(int64_t{1} << std::min(attempts - 1, 9), 300); }

}  // namespace

std::string QuoteIdentifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string QuoteLiteral(std::string_view value) {
  std::string out = "'";
  for (char c : value) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string RenderStatement(std::string_view statement, std::string_view name,
                            std::string_view password, int64_t expiration) {
  return Expand(statement, [&](std::string_view key) {
    if (key == "name") return QuoteIdentifier(name);
    if (key == "name_literal") return QuoteLiteral(name);
    if (key == "password") return QuoteLiteral(password);
    return QuoteLiteral(FormatUtc(expiration, "%Y-%m-%d %H:%M:%S+00"));  // {{expiration}}
  });
}

absl::StatusOr<DatabaseCredentials::Target> DatabaseCredentials::TargetOf(
    std::string_view role) const {
  auto r = policy_.databases.roles.find(std::string(role));
  if (r == policy_.databases.roles.end()) {
    std::string known;
    for (const auto& [name, _] : policy_.databases.roles) known += StrCat(known.empty() ? "" : ", ", name);
    return absl::NotFoundError(StrCat("no database role \"", role, "\"; the policy has: ",
                                      known.empty() ? "none" : known));
  }
  return Target{&r->second, &policy_.databases.connections.at(r->second.connection)};
}

absl::StatusOr<DatabaseCredentials::Target> DatabaseCredentials::TargetOf(
    const DbLeaseRow& l) const {
  ASSIGN_OR_RETURN(Target t, TargetOf(l.role));
  if (t.connection->name != l.connection)
    return absl::FailedPreconditionError(
        StrCat("database role ", l.role, " moved from connection ", l.connection, " to ",
               t.connection->name, "; its lease's role lives on ", l.connection));
  return t;
}

bool DatabaseCredentials::Creating(std::string_view lease_id) {
  std::lock_guard lock(mu_);
  return creating_.count(std::string(lease_id)) > 0;
}

absl::StatusOr<DbCredential> DatabaseCredentials::Issue(const Identity& who, std::string_view role,
                                                        int64_t ttl) {
  ASSIGN_OR_RETURN(Target t, TargetOf(role));
  if (!policy_.InAnyGroup(who.user, t.role->requester_groups))
    return absl::PermissionDeniedError(
        StrCat(who.user, " may not ask for database role ", role, " (not in its requesters)"));
  if (ttl < 0) return absl::InvalidArgumentError("a lease's ttl cannot be negative");
  ttl = std::min(ttl ? ttl : t.role->default_ttl, t.role->max_ttl);
  const int64_t now = clock_.Now();
  DbCredential out;
  DbLeaseRow& l = out.lease;
  l.id = StrCat("db/", role, "/", RandomId(16));
  l.role = std::string(role);
  l.connection = t.connection->name;
  l.username = RenderUsername(*t.role, who.user);
  if (l.username.size() > kMaxRoleName)
    return absl::InvalidArgumentError(StrCat("database role ", role, ": its username_template makes \"",
                                             l.username, "\", longer than PostgreSQL's 63 characters"));
  l.owner = who.user;
  l.created = now;
  l.max_expires = now + t.role->max_ttl;
  l.expires = now + ttl;
  ASSIGN_OR_RETURN(SecretBytes admin, vault_.ReadForController(t.connection->admin_password_path));
  const std::string password = RandomId(32);
  out.password = SecretBytes(AsBytes(password));
  // The lease first: from here on the role, if it comes to exist, has a lease that drops it. No
  // revocation of it runs until the creation has returned.
  {
    std::lock_guard lock(mu_);
    creating_.insert(l.id);
  }
  absl::Status inserted = store_.InsertDbLease(l);
  std::vector<std::string> statements;
  for (const std::string& s : t.role->creation_statements)
    statements.push_back(RenderStatement(s, l.username, password, l.expires));
  absl::Status created = inserted.ok() ? driver_.Execute(*t.connection, admin, statements) : inserted;
  {
    std::lock_guard lock(mu_);
    creating_.erase(l.id);
  }
  RETURN_IF_ERROR(inserted);
  if (absl::Status st = created; !st.ok()) {
    // Nothing was created (one transaction), but make sure: the lease is revoked or kept due.
    RETURN_IF_ERROR(store_.SetDbLeaseExpiry(l.id, now));
    (void)RevokeLease(l, "creation failed");
    return absl::Status(st.code(), StrCat("creating database role ", role, " on ",
                                          t.connection->name, " failed: ", st.message()));
  }
  RETURN_IF_ERROR(audit_.Append({{"event", "db.issue"}, {"lease", l.id}, {"role", l.role},
                                 {"connection", l.connection}, {"username", l.username},
                                 {"owner", l.owner}, {"expires", l.expires}}).status());
  return out;
}

absl::StatusOr<DbLeaseRow> DatabaseCredentials::OwnedLease(const Identity& who,
                                                           std::string_view lease_id) {
  ASSIGN_OR_RETURN(std::optional<DbLeaseRow> l, store_.GetDbLease(lease_id));
  // Someone else's lease reads as no lease: ids are not for guessing.
  if (!l || (l->owner != who.user && !policy_.IsAdmin(who.user)))
    return absl::NotFoundError(StrCat("no lease \"", lease_id, "\" of yours"));
  if (l->revoked)
    return absl::FailedPreconditionError(
        StrCat("lease ", lease_id, " ended at ", UtcText(l->revoked), "; ask for new credentials"));
  return *l;
}

absl::StatusOr<DbLeaseRow> DatabaseCredentials::Renew(const Identity& who,
                                                      std::string_view lease_id,
                                                      int64_t increment) {
  ASSIGN_OR_RETURN(DbLeaseRow l, OwnedLease(who, lease_id));
  const int64_t now = clock_.Now();
  if (l.expires <= now)
    return absl::FailedPreconditionError(StrCat("lease ", lease_id, " has expired; its role is being dropped"));
  ASSIGN_OR_RETURN(Target t, TargetOf(l));
  if (increment < 0) return absl::InvalidArgumentError("a renewal's increment cannot be negative");
  increment = std::min(increment ? increment : t.role->default_ttl, t.role->max_ttl);
  const int64_t expires = std::min(now + increment, l.max_expires);
  if (!t.role->renew_statements.empty()) {
    ASSIGN_OR_RETURN(SecretBytes admin, vault_.ReadForController(t.connection->admin_password_path));
    std::vector<std::string> statements;
    for (const std::string& s : t.role->renew_statements)
      statements.push_back(RenderStatement(s, l.username, "", expires));
    RETURN_IF_ERROR(driver_.Execute(*t.connection, admin, statements));
  }
  RETURN_IF_ERROR(store_.SetDbLeaseExpiry(l.id, expires, l.expires));
  RETURN_IF_ERROR(audit_.Append({{"event", "db.renew"}, {"lease", l.id}, {"by", who.user},
                                 {"expires", expires}}).status());
  l.expires = expires;
  return l;
}

absl::Status DatabaseCredentials::RevokeLease(const DbLeaseRow& l, std::string_view why,
                                              const absl::Status& known_failure) {
  const int64_t now = clock_.Now();
  absl::Status st = known_failure;
  auto t = TargetOf(l);
  if (!st.ok()) {
    // The connection already failed in this pass: recorded, not tried again.
  } else if (!t.ok()) {
    st = t.status();
  } else {
    auto admin = vault_.ReadForController(t->connection->admin_password_path);
    if (!admin.ok()) {
      st = admin.status();
    } else {
      std::vector<std::string> statements;
      for (const std::string& s : t->role->revocation_statements)
        statements.push_back(RenderStatement(s, l.username, "", l.expires));
      st = driver_.Execute(*t->connection, *admin, statements);
    }
  }
  if (st.ok()) {
    RETURN_IF_ERROR(store_.MarkDbLeaseRevoked(l.id, now));
    return audit_.Append({{"event", "db.revoke"}, {"lease", l.id}, {"username", l.username},
                          {"why", why}}).status();
  }
  const int attempts = l.attempts + 1;
  const int64_t retry = now + RetryDelay(attempts);
  RETURN_IF_ERROR(store_.NoteDbLeaseFailure(l.id, attempts, retry, std::string(st.message())));
  // An alert, every time: a role that outlives its lease is the one thing this must not hide.
  RETURN_IF_ERROR(audit_.Append({{"event", "db.revoke_failed"}, {"alert", true}, {"lease", l.id},
                                 {"username", l.username}, {"connection", l.connection},
                                 {"attempts", attempts}, {"retry_at", retry},
                                 {"error", std::string(st.message())}}).status());
  return absl::Status(st.code(), StrCat("revoking lease ", l.id, " (role ", l.username,
                                        ") failed, retried from ", UtcText(retry), ": ",
                                        st.message()));
}

absl::Status DatabaseCredentials::Revoke(const Identity& who, std::string_view lease_id) {
  ASSIGN_OR_RETURN(DbLeaseRow l, OwnedLease(who, lease_id));
  if (Creating(l.id)) return absl::UnavailableError(StrCat("lease ", l.id, " is being created; try again"));
  // Due from now whatever happens next: a failure below is retried by RevokeExpired.
  RETURN_IF_ERROR(store_.SetDbLeaseExpiry(l.id, std::min(l.expires, clock_.Now())));
  return RevokeLease(l, StrCat("revoked by ", who.user));
}

absl::StatusOr<int> DatabaseCredentials::RevokePrefix(const Identity& who, std::string_view prefix) {
  if (!policy_.IsAdmin(who.user))
    return absl::PermissionDeniedError("only admins revoke leases by prefix");
  if (prefix.empty()) return absl::InvalidArgumentError("a prefix is required (e.g. db/readonly/)");
  ASSIGN_OR_RETURN(std::vector<DbLeaseRow> leases, store_.ListLiveDbLeases(prefix, ""));
  int revoked = 0;
  std::vector<std::string> failed;
  const int64_t now = clock_.Now();
  for (const DbLeaseRow& l : leases) {
    if (Creating(l.id)) {
      failed.push_back(l.id + " (being created)");
      continue;
    }
    RETURN_IF_ERROR(store_.SetDbLeaseExpiry(l.id, std::min(l.expires, now)));
    if (RevokeLease(l, StrCat("revoked by ", who.user, " (prefix ", prefix, ")")).ok()) {
      revoked++;
    } else {
      failed.push_back(l.id);
    }
  }
  if (!failed.empty())
    return absl::UnavailableError(StrCat(revoked, " revoked; ", failed.size(),
                                         " failed and are retried: ", StrJoin(failed, ", ")));
  return revoked;
}

absl::StatusOr<std::vector<DbLeaseRow>> DatabaseCredentials::List(const Identity& who) {
  return store_.ListLiveDbLeases("", policy_.IsAdmin(who.user) ? "" : who.user);
}

absl::StatusOr<std::vector<std::string>> DatabaseCredentials::Orphans(const Identity& who,
                                                                      std::string_view connection) {
  if (!policy_.IsAdmin(who.user))
    return absl::PermissionDeniedError("only admins scan a database for orphaned roles");
  auto c = policy_.databases.connections.find(std::string(connection));
  if (c == policy_.databases.connections.end())
    return absl::NotFoundError(StrCat("no database connection \"", connection, "\""));
  ASSIGN_OR_RETURN(SecretBytes admin, vault_.ReadForController(c->second.admin_password_path));
  ASSIGN_OR_RETURN(std::vector<DbLeaseRow> live, store_.ListLiveDbLeases("", ""));
  std::set<std::string> owned;
  for (const DbLeaseRow& l : live) {
    if (l.connection == connection) owned.insert(l.username);
  }
  std::set<std::string> orphans;
  for (const auto& [name, r] : policy_.databases.roles) {
    if (r.connection != connection) continue;
    ASSIGN_OR_RETURN(std::vector<std::string> roles,
                     driver_.ListRoles(c->second, admin, r.UsernamePrefix()));
    for (std::string& role : roles) {
      if (!owned.count(role)) orphans.insert(std::move(role));
    }
  }
  return std::vector<std::string>(orphans.begin(), orphans.end());
}

absl::StatusOr<int> DatabaseCredentials::RevokeExpired(int limit) {
  ASSIGN_OR_RETURN(std::vector<DbLeaseRow> due, store_.ListDueDbLeases(clock_.Now(), limit));
  int revoked = 0;
  // A connection that cannot be reached costs one connect timeout per pass, not one per lease:
  // the rest of its leases get the same failure (each noted and alerted, retried later).
  std::map<std::string, absl::Status> unreachable;
  for (const DbLeaseRow& l : due) {
    if (Creating(l.id)) continue;
    auto down = unreachable.find(l.connection);
    const absl::Status st =
        RevokeLease(l, "expired", down == unreachable.end() ? absl::OkStatus() : down->second);
    if (st.ok()) {
      revoked++;
    } else if (absl::IsUnavailable(st) && down == unreachable.end()) {
      unreachable.emplace(l.connection,
                          absl::UnavailableError(StrCat("connection ", l.connection,
                                                        " failed earlier in this pass (lease ",
                                                        l.id, ")")));
    }
  }
  return revoked;
}

absl::StatusOr<const DbConnectionPolicy*> PostgresRoleTarget::ConnectionOf(
    const RotationTargetPolicy& t) const {
  auto it = policy_.databases.connections.find(t.connection);
  if (it == policy_.databases.connections.end())
    return absl::FailedPreconditionError(StrCat("no database connection \"", t.connection, "\""));
  return &it->second;
}

bool PostgresRoleTarget::SetsWithoutCurrent(const RotationTargetPolicy& t) const {
  auto c = ConnectionOf(t);
  return c.ok() && (*c)->admin_user != t.user;
}

absl::Status PostgresRoleTarget::Change(const RotationTargetPolicy& t, const SecretBytes* current,
                                        const SecretBytes& next) {
  ASSIGN_OR_RETURN(const DbConnectionPolicy* c, ConnectionOf(t));
  if (c->admin_user == t.user) {
    if (!current)
      return absl::FailedPreconditionError(StrCat("the admin of ", c->name, " changes its own "
                                                  "password with the current one"));
    return driver_.SetPassword(*c, *current, t.user, next);
  }
  ASSIGN_OR_RETURN(SecretBytes admin, vault_.ReadForController(c->admin_password_path));
  return driver_.SetPassword(*c, admin, t.user, next);
}

absl::Status PostgresRoleTarget::Verify(const RotationTargetPolicy& t, const SecretBytes& value) {
  ASSIGN_OR_RETURN(const DbConnectionPolicy* c, ConnectionOf(t));
  return driver_.Authenticate(*c, t.user, value);
}

}  // namespace warden
