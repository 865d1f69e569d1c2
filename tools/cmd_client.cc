// imprint client: a small gRPC client for `imprint serve` (the API in
// server/proto/imprint/v1/imprint.proto). Prints the same JSON as `imprint query --json`.
#include <grpcpp/grpcpp.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.h"
#include "engine.h"
#include "imprint/v1/imprint.grpc.pb.h"
#include "input_paths.h"
#include "licence.h"

namespace imprint::cli {
namespace {

namespace v1 = imprint::v1;

struct ClientArgs {
  std::string server = "127.0.0.1:50051";
  std::string key;
  bool tls = false;
  std::string purpose = "any-use";
  std::string licensee, reference;
};

std::shared_ptr<grpc::Channel> channel_for(const ClientArgs& a) {
  return grpc::CreateChannel(a.server, a.tls ? grpc::SslCredentials({}) : grpc::InsecureChannelCredentials());
}

std::unique_ptr<grpc::ClientContext> context_for(const ClientArgs& a) {
  auto c = std::make_unique<grpc::ClientContext>();
  if (!a.key.empty()) c->AddMetadata("authorization", "Bearer " + a.key);
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  return c;
}

nlohmann::json licence_json(const v1::LicencePolicy& p) {
  auto terms = [](const v1::PurposeTerms& t) -> nlohmann::json {
    if (t.permission() == v1::LICENSED) return {{"licensed", std::vector<std::string>(t.licensees().begin(), t.licensees().end())}};
    return t.permission() == v1::ALLOW ? "allow" : "deny";
  };
  return {{"ai-training", terms(p.ai_training())}, {"commercial", terms(p.commercial())}, {"any-use", terms(p.any_use())}};
}

nlohmann::json response_json(const std::string& label, const v1::MatchResponse& r) {
  nlohmann::json matches = nlohmann::json::array();
  for (const v1::Match& m : r.matches()) {
    matches.push_back({{"work_id", m.work_id()}, {"title", m.title()}, {"owner", m.owner()},
                       {"distance", m.distance()}, {"score", m.score()}, {"transform", m.transform()},
                       {"method", m.method()}, {"decision", m.decision()}, {"flagged", m.flagged()},
                       {"licence", licence_json(m.licence())}});
  }
  return {{"path", label}, {"pdq", r.pdq()}, {"quality", r.quality()}, {"weak", r.weak()},
          {"decision", r.decision()}, {"matches", matches}};
}

nlohmann::json video_response_json(const std::string& label, const v1::MatchVideoResponse& r) {
  nlohmann::json matches = nlohmann::json::array();
  for (const v1::VideoMatch& vm : r.matches()) {
    const v1::Match& m = vm.match();
    nlohmann::json segments = nlohmann::json::array();
    for (const v1::VideoSegment& s : vm.segments()) {
      segments.push_back({{"query_start", s.query_start()}, {"query_end", s.query_end()},
                          {"work_start", s.work_start()}, {"work_end", s.work_end()},
                          {"frames", s.frames()}, {"speed", s.speed()}});
    }
    matches.push_back({{"work_id", m.work_id()}, {"title", m.title()}, {"owner", m.owner()},
                       {"media", "video"}, {"distance", m.distance()}, {"score", m.score()},
                       {"transform", m.transform()}, {"method", m.method()}, {"decision", m.decision()}, {"flagged", m.flagged()},
                       {"licence", licence_json(m.licence())},
                       {"query_match_pct", vm.query_match_pct()},
                       {"work_match_pct", vm.work_match_pct()},
                       {"matched_frames", vm.matched_frames()},
                       {"work_duration", vm.work_duration()}, {"segments", segments}});
  }
  nlohmann::json j = {{"path", label},       {"media", "video"},     {"fps", r.fps()},
                      {"duration", r.duration()}, {"frames", r.frames()}, {"partial", r.partial()},
                      {"weak", r.weak()},    {"decision", r.decision()}, {"matches", matches}};
  if (r.partial()) j["partial_reason"] = r.partial_reason();
  return j;
}

int fail(const char* what, const grpc::Status& s) {
  std::cerr << "imprint client " << what << ": " << s.error_code() << " " << s.error_message() << '\n';
  return 1;
}

void set_context(const ClientArgs& a, v1::MatchContext* ctx) {
  Result<Purpose> p = parse_purpose(a.purpose);
  ctx->set_purpose(!p.ok() || *p == Purpose::kAnyUse ? v1::ANY_USE
                   : *p == Purpose::kAiTraining      ? v1::AI_TRAINING
                                                     : v1::COMMERCIAL);
  ctx->set_licensee(a.licensee);
  ctx->set_reference(a.reference);
}

}  // namespace

void add_client_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<ClientArgs>();
  CLI::App* client = app.add_subcommand("client", "Call a running imprint serve over gRPC");
  client->require_subcommand(1);
  client->add_option("--server", a->server, "HOST:PORT")->capture_default_str();
  client->add_option("--key", a->key, "API key (sent as authorization: Bearer KEY)");
  client->add_flag("--tls", a->tls, "Use TLS (system roots)");

  auto paths = std::make_shared<std::vector<std::string>>();
  CLI::App* match =
      client->add_subcommand("match", "Match image or video files, or 64-hex PDQ hashes");
  match->add_option("inputs", *paths, "Image or video files, or hashes")->required();
  match->add_option("--purpose", a->purpose, "ai-training, commercial or any-use")->capture_default_str();
  match->add_option("--licensee", a->licensee, "The party that wants to use the image");
  match->add_option("--reference", a->reference, "Your id for the upload, kept in usage records");
  match->callback([a, paths, &exit_code] {
    auto stub = v1::MatchService::NewStub(channel_for(*a));
    for (const std::string& in : *paths) {
      v1::MatchResponse resp;
      grpc::Status st;
      if (in.size() == 64 && PdqHash::from_hex(in).ok()) {
        v1::MatchHashRequest req;
        req.set_pdq(in);
        set_context(*a, req.mutable_context());
        st = stub->MatchHash(context_for(*a).get(), req, &resp);
      } else {
        Result<std::vector<uint8_t>> bytes = read_file(in, 1LL << 30);
        if (!bytes.ok()) {
          std::cerr << "imprint client match: " << in << ": " << bytes.status().message() << '\n';
          exit_code = 1;
          continue;
        }
        if (is_video_file(in)) {
          v1::MatchVideoRequest req;
          req.set_video(std::string(bytes->begin(), bytes->end()));
          set_context(*a, req.mutable_context());
          v1::MatchVideoResponse vresp;
          st = stub->MatchVideo(context_for(*a).get(), req, &vresp);
          if (st.ok()) std::cout << video_response_json(in, vresp).dump() << '\n';
          if (!st.ok()) exit_code = fail("match", st);
          continue;
        }
        v1::MatchImageRequest req;
        req.set_image(std::string(bytes->begin(), bytes->end()));
        set_context(*a, req.mutable_context());
        st = stub->MatchImage(context_for(*a).get(), req, &resp);
      }
      if (!st.ok()) {
        exit_code = fail("match", st);
        continue;
      }
      std::cout << response_json(in, resp).dump() << '\n';
    }
  });

  struct RegisterArgs {
    std::string file, id, title, owner, policy;
    bool replace = false;
  };
  auto r = std::make_shared<RegisterArgs>();
  CLI::App* reg = client->add_subcommand("register", "Register one image or video as a work");
  reg->add_option("file", r->file, "Image or video file")->required();
  reg->add_option("--id", r->id, "Work id")->required();
  reg->add_option("--title", r->title, "Title");
  reg->add_option("--owner", r->owner, "Rights holder");
  reg->add_flag("--replace", r->replace, "Replace an existing work with this id");
  reg->callback([a, r, &exit_code] {
    Result<std::vector<uint8_t>> bytes = read_file(r->file, 1LL << 30);
    if (!bytes.ok()) {
      std::cerr << "imprint client register: " << bytes.status().message() << '\n';
      exit_code = 1;
      return;
    }
    v1::RegisterWorkRequest req;
    req.mutable_work()->set_work_id(r->id);
    req.mutable_work()->set_title(r->title);
    req.mutable_work()->set_owner(r->owner);
    const bool video = is_video_file(r->file);
    if (video) {
      req.set_video(std::string(bytes->begin(), bytes->end()));
    } else {
      req.set_image(std::string(bytes->begin(), bytes->end()));
    }
    req.set_replace(r->replace);
    v1::RegisterWorkResponse resp;
    grpc::Status st = v1::CatalogService::NewStub(channel_for(*a))->RegisterWork(context_for(*a).get(), req, &resp);
    if (!st.ok()) {
      exit_code = fail("register", st);
      return;
    }
    nlohmann::json j = {{"work_id", resp.work().work_id()},
                        {"media", resp.work().media()},
                        {"registered_at", resp.work().registered_at()}};
    if (video) {
      j["frames"] = resp.frames();
      j["partial"] = resp.partial();
      if (resp.partial()) j["partial_reason"] = resp.partial_reason();
    } else {
      j["pdq"] = resp.pdq().hash();
      j["quality"] = resp.pdq().quality();
    }
    std::cout << j.dump() << '\n';
  });

  auto ids = std::make_shared<std::vector<std::string>>();
  CLI::App* rm = client->add_subcommand("remove", "Remove works");
  rm->add_option("ids", *ids, "Work ids")->required();
  rm->callback([a, ids, &exit_code] {
    auto stub = v1::CatalogService::NewStub(channel_for(*a));
    for (const std::string& id : *ids) {
      v1::RemoveWorkRequest req;
      req.set_work_id(id);
      v1::RemoveWorkResponse resp;
      grpc::Status st = stub->RemoveWork(context_for(*a).get(), req, &resp);
      if (!st.ok()) exit_code = fail("remove", st);
    }
  });

  CLI::App* usage = client->add_subcommand("usage", "List usage records (admin key)");
  usage->callback([a, &exit_code] {
    auto ctx = context_for(*a);
    auto reader = v1::CatalogService::NewStub(channel_for(*a))->ListUsage(ctx.get(), v1::ListUsageRequest{});
    v1::UsageEvent e;
    while (reader->Read(&e)) {
      std::cout << nlohmann::json{{"time", e.time()}, {"work_id", e.work_id()}, {"owner", e.owner()},
                                  {"decision", e.decision()}, {"purpose", e.purpose()}, {"caller", e.caller()},
                                  {"reference", e.reference()}, {"distance", e.distance()}}
                       .dump()
                << '\n';
    }
    grpc::Status st = reader->Finish();
    if (!st.ok()) exit_code = fail("usage", st);
  });
}

}  // namespace imprint::cli
