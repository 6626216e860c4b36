// wardenctl's commands, one file per domain. Each Add*Commands function registers its
// subcommands on the app; their callbacks leave the command's result in Context::status().
// The order main() calls them in is the order `wardenctl --help` lists the subcommands.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>

#include "cli/client.h"
#include "cli/output.h"
#include "common/status.h"

namespace warden::cli {

struct Globals {
  std::string home = DefaultHome();
  bool json = false;
};

// What the commands of one invocation share: the global options, the profile and the channel
// to the controller (opened on first use), and the command's result.
// REQUIRES: outlives the CLI::App whose callbacks refer to it.
class Context {
 public:
  // Bound to --home and --json; read only once parsing is done.
  Globals& globals() { return g_; }

  const std::string& home() const { return g_.home; }
  Output out() const { return Output(g_.json); }

  // Loads the profile and connects with the login certificate; later calls reuse the channel.
  absl::Status Open();
  // REQUIRES: Open() succeeded.
  const Profile& profile() const { return p_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return ch_; }
  // A stub of `Service` (e.g. warden::v1::VaultService) on the channel.
  // REQUIRES: Open() succeeded.
  template <typename Service>
  std::unique_ptr<typename Service::Stub> Stub() const {
    return Service::NewStub(ch_);
  }

  absl::Status& status() { return st_; }

 private:
  Globals g_;
  Profile p_;
  std::shared_ptr<grpc::Channel> ch_;
  absl::Status st_;
};

// Reads a line from the terminal after printing `label` on stderr; without echo if `secret`.
std::string Prompt(const std::string& label, bool secret);

void AddAuthCommands(CLI::App& app, Context& ctx);        // login, whoami
void AddAccessCommands(CLI::App& app, Context& ctx);      // request ... revoke
void AddCertCommands(CLI::App& app, Context& ctx);        // cert, ssh, ca, krl
void AddHostCommands(CLI::App& app, Context& ctx);        // host token create
void AddAuditCommands(CLI::App& app, Context& ctx);       // audit verify, alerts
void AddCoverageCommands(CLI::App& app, Context& ctx);    // coverage
void AddSessionCommands(CLI::App& app, Context& ctx);     // sessions, recordings, join, terminate
void AddVaultCommands(CLI::App& app, Context& ctx);       // operator, vault
// vault rotate/reset/rotation, reconcile. REQUIRES: after AddVaultCommands.
void AddRotationCommands(CLI::App& app, Context& ctx);
void AddDatabaseCommands(CLI::App& app, Context& ctx);    // db, lease
void AddPlayCommand(CLI::App& app, Context& ctx);         // play

}  // namespace warden::cli
