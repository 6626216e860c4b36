// wardenctl: the operator's command line for Warden. The commands live in commands/, one file
// per domain; this file holds the global options and the order of the subcommands.
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands/commands.h"
#include "common/grpc_tls.h"

int main(int argc, char** argv) {
  using namespace warden::cli;
  warden::RestrictGrpcToTls13();
  Context ctx;
  CLI::App app{"wardenctl: request, approve and use privileged access through Warden"};
  app.require_subcommand(1);
  app.add_option("--home", ctx.globals().home, "profile directory (default $WARDEN_HOME or ~/.warden)");
  app.add_flag("--json", ctx.globals().json, "machine-readable output");

  // The order here is the order `wardenctl --help` lists the subcommands in.
  AddAuthCommands(app, ctx);
  AddAccessCommands(app, ctx);
  AddCertCommands(app, ctx);
  AddHostCommands(app, ctx);
  AddAuditCommands(app, ctx);
  AddCoverageCommands(app, ctx);
  AddSessionCommands(app, ctx);
  AddVaultCommands(app, ctx);
  AddRotationCommands(app, ctx);
  AddDatabaseCommands(app, ctx);
  AddPlayCommand(app, ctx);

  CLI11_PARSE(app, argc, argv);
  if (!ctx.status().ok()) {
    std::cerr << "wardenctl: " << ctx.status().message() << "\n";
    return 1;
  }
  return 0;
}
