// wardenctl's connection to the controller: the profile directory (controller address, CA,
// client key and certificate) and an mTLS channel built from it.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "common/files.h"
#include "common/status.h"

namespace warden::cli {

struct Profile {
  std::string home;        // directory holding the files below
  std::string controller;  // host:port
  std::string user;

  std::string ca_path() const { return home + "/ca.crt"; }
  std::string key_path() const { return home + "/client.key"; }
  std::string cert_path() const { return home + "/client.crt"; }
  std::string profile_path() const { return home + "/profile.json"; }
};

// --home, else $WARDEN_HOME, else ~/.warden.
std::string DefaultHome();
absl::StatusOr<Profile> LoadProfile(const std::string& home);
absl::Status SaveProfile(const Profile& p);

// A channel that trusts only the profile's CA; with `client_cert`, presents the login
// certificate.
absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(const Profile& p, bool client_cert);

// A context with the standard deadline.
std::unique_ptr<grpc::ClientContext> CallContext();

// Turns a failed call into a message with a hint on what to do.
absl::Status FromGrpc(const grpc::Status& st, const Profile& p);


}  // namespace warden::cli
