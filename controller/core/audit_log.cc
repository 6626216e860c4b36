#include "controller/core/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "common/sshkey.h"
#include "common/strings.h"

namespace warden {
namespace {

std::string Rfc3339(int64_t t) { return FormatUtc(t, "%Y-%m-%dT%H:%M:%SZ"); }

absl::Status Unwritable(const std::string& path, std::string_view op, int err) {
  return absl::UnavailableError(StrCat(
      "audit log ", path, " cannot be written (", op, ": ", std::strerror(err),
      "); requests are refused until it can. Free space or make its directory writable."));
}

}  // namespace

AuditLog::AuditLog(Options options, KeyStore& keys, AuditStore& store, const Clock& clock)
    : options_(std::move(options)), keys_(keys), store_(store), clock_(clock) {
  sync_thread_ = std::thread([this] { SyncLoop(); });
}

AuditLog::~AuditLog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (sync_thread_.joinable()) sync_thread_.join();
  if (fd_ >= 0) close(fd_);
}

absl::Status AuditLog::Open() {
  std::lock_guard lock(mu_);
  return OpenLocked();
}

absl::Status AuditLog::OpenLocked() {
  if (fd_ >= 0) return absl::OkStatus();
  int fd = open(options_.path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Unwritable(options_.path, "open", errno);
  // Recover the chain position from the last complete line.
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return Unwritable(options_.path, "stat", e);
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  if (pread(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    int e = errno;
    close(fd);
    return Unwritable(options_.path, "read", e);
  }
  size_t good = text.rfind('\n');
  good = good == std::string::npos ? 0 : good + 1;
  // Before anything is cut: a log that lost its anchored line is evidence, left as found.
  if (absl::Status anchored = CheckAnchor(std::string_view(text).substr(0, good)); !anchored.ok()) {
    close(fd);
    return anchored;
  }
  if (good != text.size()) {
    // A torn line from a crash or a full disk: it was never acknowledged, so drop it.
    if (ftruncate(fd, static_cast<off_t>(good)) != 0) {
      int e = errno;
      close(fd);
      return Unwritable(options_.path, "truncate torn line", e);
    }
    text.resize(good);
  }
  seq_ = 0;
  last_hash_ = std::string(kGenesisHash);
  if (!text.empty()) {
    size_t start = text.rfind('\n', text.size() - 2);
    start = start == std::string::npos ? 0 : start + 1;
    std::string_view last(text.data() + start, text.size() - start - 1);
    auto j = nlohmann::json::parse(last, nullptr, false);
    if (j.is_discarded() || !j.contains("seq") || !j["seq"].is_number_unsigned()) {
      close(fd);
      return absl::DataLossError(StrCat("audit log ", options_.path,
                                              " ends in a line that is not an audit event; "
                                              "run wardenctl audit verify"));
    }
    seq_ = j["seq"].get<uint64_t>();
    last_hash_ = AuditLineHash(last);
  }
  fd_ = fd;
  size_ = static_cast<off_t>(text.size());
  return absl::OkStatus();
}

absl::Status AuditLog::CheckAnchor(std::string_view text) {
  ASSIGN_OR_RETURN(std::optional<AuditAnchorRow> anchor, store_.GetAuditAnchor());
  if (!anchor) return absl::OkStatus();  // no checkpoint yet
  ASSIGN_OR_RETURN(PublicKey pub, keys_.GetPublicKey(options_.key_label));
  if (!VerifySshSignature(pub, anchor->signature, AsBytes(HeadMessage(anchor->seq, anchor->hash)))
           .ok()) {
    return absl::DataLossError(StrCat(
        "the audit log's anchor in the database (line ", anchor->seq,
        ") does not verify with the audit key: the database was edited. The controller will not "
        "start; restore the database and ", options_.path, " from a backup"));
  }
  // Line n of the log is the one after the (n-1)th newline.
  uint64_t lines = 0;
  size_t start = 0;
  std::string_view anchored;
  for (size_t pos = 0; pos < text.size(); pos = start) {
    const size_t nl = text.find('\n', pos);
    start = nl + 1;
    if (++lines == anchor->seq) {
      anchored = text.substr(pos, nl - pos);
      break;
    }
  }
  if (lines < anchor->seq) {
    return absl::DataLossError(StrCat(
        "audit log ", options_.path, " ends at line ", lines, ", but the controller sealed line ",
        anchor->seq, " (hash ", anchor->hash.substr(0, 16),
        "...) at its last checkpoint: lines were cut off its end. The controller will not start "
        "on it. Restore the log from a backup that holds line ", anchor->seq,
        " (check it with wardenctl audit verify --file), then start again"));
  }
  if (AuditLineHash(anchored) != anchor->hash) {
    return absl::DataLossError(StrCat(
        "audit log ", options_.path, ": line ", anchor->seq,
        " is not the checkpoint the controller sealed there (its hash differs from the anchor in "
        "the database): the log was rewritten. The controller will not start on it. Restore the "
        "log from a backup (check it with wardenctl audit verify --file), then start again"));
  }
  return absl::OkStatus();
}

std::string AuditLog::Redact(std::string_view secret) const {
  absl::StatusOr<Bytes> mac = keys_.Mac(options_.hmac_key_label, AsBytes(secret));
  return mac.ok() ? "hmac-sha256:" + HexEncode(*mac) : "hmac-sha256:unavailable";
}

absl::StatusOr<uint64_t> AuditLog::WriteLocked(nlohmann::json event) {
  RETURN_IF_ERROR(OpenLocked());
  event["seq"] = seq_ + 1;
  event["prev"] = last_hash_;
  event["ts"] = Rfc3339(clock_.Now());
  const std::string line = event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const std::string data = line + "\n";
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = n < 0 ? errno : ENOSPC;
      // Cut the partial line off so the file remains a valid chain; if even that fails, the
      // torn tail is removed on the next open.
      if (ftruncate(fd_, size_) != 0) {
        close(fd_);
        fd_ = -1;
      }
      return Unwritable(options_.path, "write", e);
    }
    done += static_cast<size_t>(n);
  }
  size_ += static_cast<off_t>(data.size());
  seq_++;
  last_hash_ = AuditLineHash(line);
  if (!dirty_) {
    dirty_ = true;
    // Wake the sync thread only on the clean -> dirty edge: one wakeup per sync interval, not
    // one per event.
    cv_.notify_one();
  }
  return seq_;
}

absl::StatusOr<uint64_t> AuditLog::Append(nlohmann::json event) {
  nlohmann::json alert;
  if (alerts_ && event.value("alert", false)) alert = event;
  Written written;
  if (!followers_.empty() && event.is_object()) {
    auto str = [&](const char* k) {
      auto it = event.find(k);
      return it != event.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    written.event = str("event");
    if (str("type") == "outcome") {
      written.call = str("call");
      written.code = str("code");
    }
    written.alert = event.value("alert", false);
    if (written.alert) {
      written.alert_name = str("rule").empty() ? written.event : str("rule");
      written.severity = str("severity").empty() ? "warning" : str("severity");
    }
  }
  uint64_t seq = 0;
  absl::Status checkpointed;
  {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(seq, WriteLocked(std::move(event)));
    if (++since_checkpoint_ >= options_.checkpoint_every) checkpointed = CheckpointLocked();
  }
  written.seq = seq;
  for (const auto& follow : followers_) follow(written);
  // Written is paged, whatever became of the checkpoint.
  if (!alert.is_null()) {
    alert["seq"] = seq;
    alerts_->Raise(alert);
  }
  RETURN_IF_ERROR(checkpointed);
  return seq;
}

absl::Status AuditLog::CheckpointLocked() {
  ASSIGN_OR_RETURN(Bytes sig, SignSsh(keys_, options_.key_label,
                                      AsBytes(CheckpointMessage(seq_ + 1, last_hash_))));
  RETURN_IF_ERROR(WriteLocked({{"type", "checkpoint"}, {"sig", Base64Encode(sig)}}).status());
  since_checkpoint_ = 0;
  // The anchor outside the file, once the file holds the checkpoint durably: a power loss must
  // never leave the file behind its anchor.
  if (fdatasync(fd_) != 0) return Unwritable(options_.path, "fdatasync", errno);
  AuditAnchorRow anchor{seq_, last_hash_, {}};
  ASSIGN_OR_RETURN(anchor.signature,
                   SignSsh(keys_, options_.key_label, AsBytes(HeadMessage(seq_, last_hash_))));
  return store_.PutAuditAnchor(anchor);
}

uint64_t AuditLog::LastSeq() {
  std::lock_guard lock(mu_);
  return seq_;
}

absl::Status AuditLog::Checkpoint() {
  std::lock_guard lock(mu_);
  return CheckpointLocked();
}

absl::Status AuditLog::Close() {
  absl::Status st;
  {
    std::lock_guard lock(mu_);
    if (seq_ > 0) st = CheckpointLocked();  // synced, and anchored
    stopping_ = true;
  }
  cv_.notify_all();
  if (sync_thread_.joinable()) sync_thread_.join();
  return st;
}

void AuditLog::SyncLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait(lock, [this] { return stopping_ || dirty_; });
    if (stopping_) break;
    // Sleep out the interval without the lock; writers do not notify while dirty_ is set.
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(options_.sync_interval_ms));
    lock.lock();
    if (fd_ >= 0 && dirty_) {
      dirty_ = false;
      // Sync a duplicate outside the lock so writers never wait for the disk. A failed sync
      // surfaces on the next checkpoint, which refuses the request.
      const int fd = dup(fd_);
      lock.unlock();
      if (fd >= 0) {
        (void)fdatasync(fd);
        close(fd);
      }
      lock.lock();
    }
  }
}

absl::StatusOr<AuditHead> AuditLog::SignedHead() {
  std::lock_guard lock(mu_);
  AuditHead head{seq_, last_hash_, {}};
  ASSIGN_OR_RETURN(head.signature,
                   SignSsh(keys_, options_.key_label, AsBytes(HeadMessage(seq_, last_hash_))));
  return head;
}

absl::StatusOr<std::pair<std::string, AuditHead>> AuditLog::Export() {
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(OpenLocked());
  // Read what is on disk now, by path: an edit made behind the controller's back must show up in
  // the export so that verification can catch it.
  int fd = open(options_.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::DataLossError(StrCat("audit log ", options_.path, " is gone (",
                                      std::strerror(errno), "); it was removed or replaced"));
  }
  struct stat on_disk, ours;
  if (fstat(fd, &on_disk) != 0 || fstat(fd_, &ours) != 0 || on_disk.st_ino != ours.st_ino ||
      on_disk.st_dev != ours.st_dev) {
    close(fd);
    return absl::DataLossError(StrCat("audit log ", options_.path,
                                      " was replaced by another file while the controller was "
                                      "writing it; the log has been tampered with"));
  }
  std::string text(static_cast<size_t>(on_disk.st_size), '\0');
  const ssize_t n = pread(fd, text.data(), text.size(), 0);
  close(fd);
  if (n != static_cast<ssize_t>(text.size())) {
    return absl::UnavailableError(StrCat("cannot read audit log: ", std::strerror(errno)));
  }
  AuditHead head{seq_, last_hash_, {}};
  ASSIGN_OR_RETURN(head.signature,
                   SignSsh(keys_, options_.key_label, AsBytes(HeadMessage(seq_, last_hash_))));
  return std::make_pair(std::move(text), std::move(head));
}

absl::StatusOr<AuditLog::Exported> AuditLog::ExportFor(const Identity& who,
                                                       const Policy& policy) {
  if (!policy.IsAdmin(who.user))
    return absl::PermissionDeniedError("exporting the audit log is for admins");
  ASSIGN_OR_RETURN(auto exported, Export());
  ASSIGN_OR_RETURN(PublicKey pub, keys_.GetPublicKey(options_.key_label));
  return Exported{std::move(exported.first), std::move(exported.second),
                  FormatAuthorizedKey(pub, "warden-audit")};
}

}  // namespace warden
