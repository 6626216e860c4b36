// HostStore's tables: join_tokens, hosts.
#include "controller/store/sqlite/database.h"
#include "controller/store/sqlite/sqlite_store.h"

namespace warden {

using sqlite::Stmt;

absl::Status SqliteStore::InsertJoinToken(const JoinTokenRow& t) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT INTO join_tokens (hash,tier,labels,created,"
                                        "expires,created_by,used_at,used_by,hostnames,kind,uses,"
                                        "used_count) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"));
  return s.Bind(1, t.hash).Bind(2, t.tier).Bind(3, t.labels).Bind(4, t.created)
      .Bind(5, t.expires).Bind(6, t.created_by).Bind(7, t.used_at).Bind(8, t.used_by)
      .Bind(9, t.hostnames).Bind(10, t.kind).Bind(11, t.uses).Bind(12, t.used_count).Run();
}

absl::StatusOr<std::optional<JoinTokenRow>> SqliteStore::GetJoinToken(std::string_view hash) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT hash,tier,labels,created,expires,created_by,"
                                        "used_at,used_by,hostnames,kind,uses,used_count FROM join_tokens "
                                        "WHERE hash=?"));
  return s.Bind(1, hash).ReadOne([](Stmt& s) {
    return JoinTokenRow{s.Text(0), static_cast<int>(s.Int(1)), s.Text(2), s.Int(3), s.Int(4),
                        s.Text(5), s.Int(6),                   s.Text(7), s.Text(8), s.Text(9),
                        static_cast<int>(s.Int(10)),          static_cast<int>(s.Int(11))};
  });
}

absl::StatusOr<bool> SqliteStore::UseJoinToken(std::string_view hash, int64_t at,
                                               std::string_view host_id) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("UPDATE join_tokens SET used_at=?, used_by=?, "
                                        "used_count=used_count+1 WHERE hash=? AND used_count<uses"));
  RETURN_IF_ERROR(s.Bind(1, at).Bind(2, host_id).Bind(3, hash).Run());
  return db_->Changes() == 1;
}

absl::Status SqliteStore::InsertHost(const HostRow& h) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT INTO hosts (id,hostname,tier,labels,enrolled,"
                                        "cert_expires,kind) VALUES (?,?,?,?,?,?,?)"));
  return s.Bind(1, h.id).Bind(2, h.hostname).Bind(3, h.tier).Bind(4, h.labels)
      .Bind(5, h.enrolled).Bind(6, h.cert_expires).Bind(7, h.kind).Run();
}

absl::StatusOr<std::optional<HostRow>> SqliteStore::GetHost(std::string_view id) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT id,hostname,tier,labels,enrolled,cert_expires,kind,replaced_by "
                                        "FROM hosts WHERE id=?"));
  return s.Bind(1, id).ReadOne([](Stmt& s) {
    return HostRow{s.Text(0), s.Text(1), static_cast<int>(s.Int(2)), s.Text(3), s.Int(4),
                   s.Int(5), s.Text(6), s.Text(7)};
  });
}

absl::StatusOr<std::optional<HostRow>> SqliteStore::FindHostByName(std::string_view hostname) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT id,hostname,tier,labels,enrolled,cert_expires,kind,replaced_by "
                                        "FROM hosts WHERE hostname=? AND kind='host' ORDER BY enrolled DESC, "
                                        "rowid DESC LIMIT 1"));
  return s.Bind(1, hostname).ReadOne([](Stmt& s) {
    return HostRow{s.Text(0), s.Text(1), static_cast<int>(s.Int(2)), s.Text(3), s.Int(4),
                   s.Int(5), s.Text(6), s.Text(7)};
  });
}

absl::Status SqliteStore::SetHostCertExpiry(std::string_view id, int64_t expires) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("UPDATE hosts SET cert_expires=? WHERE id=?"));
  return s.Bind(1, expires).Bind(2, id).Run();
}

absl::StatusOr<int> SqliteStore::ReplaceHosts(std::string_view hostname, std::string_view kind,
                                             std::string_view by) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("UPDATE hosts SET replaced_by=? WHERE hostname=? AND kind=? "
                                        "AND id!=? AND replaced_by=''"));
  RETURN_IF_ERROR(s.Bind(1, by).Bind(2, hostname).Bind(3, kind).Bind(4, by).Run());
  return db_->Changes();
}

absl::StatusOr<std::vector<HostRow>> SqliteStore::ListHosts() {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT id,hostname,tier,labels,enrolled,cert_expires,kind,replaced_by "
                                        "FROM hosts WHERE replaced_by='' ORDER BY hostname, enrolled"));
  return s.ReadAll([](Stmt& s) {
    return HostRow{s.Text(0), s.Text(1), static_cast<int>(s.Int(2)), s.Text(3), s.Int(4),
                   s.Int(5), s.Text(6), s.Text(7)};
  });
}

}  // namespace warden
