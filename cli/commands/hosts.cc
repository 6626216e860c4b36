// Hosts: host token create.
#include <string_view>

#include <nlohmann/json.hpp>

#include "cli/commands/commands.h"
#include "common/duration.h"
#include "common/strings.h"
#include "warden/v1/host.grpc.pb.h"

namespace pb = ::warden::v1;
using nlohmann::json;

namespace warden::cli {
namespace {

absl::Status HostTokenCreate(Context& ctx, int tier, const std::vector<std::string>& hostnames,
                             const std::string& labels, const std::string& ttl,
                             const std::string& kind, uint32_t uses) {
  RETURN_IF_ERROR(ctx.Open());
  pb::CreateJoinTokenRequest req;
  req.set_tier(tier);
  req.set_kind(kind);
  req.set_uses(uses);
  for (const auto& h : hostnames) req.add_hostnames(h);
  for (std::string_view part : StrSplit(labels, ',', /*skip_empty=*/true)) {
    const size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      return absl::InvalidArgumentError(StrCat("label \"", part, "\" must be KEY=VALUE"));
    }
    (*req.mutable_labels())[std::string(part.substr(0, eq))] = std::string(part.substr(eq + 1));
  }
  if (!ttl.empty()) {
    ASSIGN_OR_RETURN(int64_t secs, ParseDuration(ttl));
    req.set_ttl_seconds(secs);
  }
  pb::JoinToken resp;
  RETURN_IF_ERROR(FromGrpc(
      ctx.Stub<pb::HostService>()->CreateJoinToken(CallContext().get(), req, &resp), ctx.profile()));
  if (ctx.out().json()) {
    ctx.out().Json(json{{"token", resp.token()},
                      {"tier", resp.tier()},
                      {"kind", resp.kind()},
                      {"hostnames", std::vector<std::string>(resp.hostnames().begin(),
                                                             resp.hostnames().end())},
                      {"uses", resp.uses()},
                      {"expires", resp.expires_unix()}}
                     );
  } else {
    ctx.out().text() << resp.token() << "\n";
    const std::string what = resp.kind() == "gateway" ? "gateway" : "host";
    ctx.out().note() << (resp.uses() > 1 ? StrCat("Join token for ", resp.uses(), " tier-", resp.tier(), " ", what, "s")
                                         : StrCat("Single-use join token for a tier-", resp.tier(), " ", what))
                     << " named " << StrJoin(resp.hostnames(), " or ") << ", valid until "
                     << When(resp.expires_unix()) << ".\n";
  }
  return absl::OkStatus();
}

}  // namespace

void AddHostCommands(CLI::App& app, Context& ctx) {
  // The option values live as long as the callbacks that read them.
  struct Flags {
    int tier = 0;
    std::string labels, token_ttl, kind = "host";
    std::vector<std::string> token_hostnames;
    uint32_t uses = 1;
  };
  auto f = std::make_shared<Flags>();
  auto* host_cmd = app.add_subcommand("host", "hosts");
  host_cmd->require_subcommand(1);
  auto* host_token = host_cmd->add_subcommand("token", "join tokens");
  host_token->require_subcommand(1);
  auto* host_token_create =
      host_token->add_subcommand("create", "create a join token, for one host or a fleet (admins)");
  host_token_create->add_option("--tier", f->tier, "the host's tier, 0..2")->required();
  host_token_create->add_option("--hostname", f->token_hostnames,
                                "the hostname the token enrolls; repeat for a choice of names "
                                "(at least one); '*' in a label for a pattern (web-*.example.com)");
  host_token_create->add_option("--uses", f->uses, "how many hosts it enrolls (default 1, at most 10000)")
      ->check(CLI::Range(1, 10000));
  host_token_create->add_option("--labels", f->labels, "k=v,k2=v2");
  host_token_create->add_option("--ttl", f->token_ttl, "how long the token is valid (default 1h)");
  host_token_create
      ->add_option("--kind", f->kind,
                   "what it enrolls: host (wardend enroll) or gateway (warden-sshgw enroll)")
      ->check(CLI::IsMember({"host", "gateway"}))
      ->capture_default_str();
  host_token_create->callback([&ctx, f] {
    ctx.status() =
        HostTokenCreate(ctx, f->tier, f->token_hostnames, f->labels, f->token_ttl, f->kind, f->uses);
  });
}

}  // namespace warden::cli
