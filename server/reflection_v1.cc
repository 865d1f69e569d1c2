// gRPC server reflection, version 1 (grpc.reflection.v1.ServerReflection), which current clients
// (grpcurl, Postman, grpc_cli) ask for before falling back to v1alpha.
//
// Debian 12's grpc++ (1.51) serves only v1alpha: its libgrpc++_reflection has no v1 service (v1
// came with gRPC 1.57). The two versions' messages are the same, field for field, under another
// package name, so v1 is served here by handing each request's bytes, unparsed, to the v1alpha
// service over the server's in-process channel and its answer back the same way. Reflection has
// one answer per request, so the two streams go in lock step.
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/impl/service_type.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/method_handler.h>
#include <grpcpp/support/sync_stream.h>

#include "server_impl.h"

namespace imprint::server {
namespace {

constexpr char kV1Method[] = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
constexpr char kV1AlphaMethod[] = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

class ReflectionV1 final : public grpc::Service {
 public:
  explicit ReflectionV1(Server::Impl& s) : s_(s) {
    // Registered the way generated code registers a method, with raw bytes for messages.
    AddMethod(new grpc::internal::RpcServiceMethod(
        kV1Method, grpc::internal::RpcMethod::BIDI_STREAMING,
        new grpc::internal::BidiStreamingHandler<ReflectionV1, grpc::ByteBuffer, grpc::ByteBuffer>(
            [](ReflectionV1* self, grpc::ServerContext* ctx,
               grpc::ServerReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>* stream) {
              return self->Info(ctx, stream);
            },
            this)));
  }

 private:
  grpc::Status Info(grpc::ServerContext* ctx,
                    grpc::ServerReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>* stream) {
    if (s_.stopping || !s_.grpc_server) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is stopping");
    }
    // One channel a call, gone with it: none outlives the server (reflection calls are rare).
    std::shared_ptr<grpc::Channel> channel =
        s_.grpc_server->InProcessChannel(grpc::ChannelArguments());
    // The caller's deadline and cancellation reach the v1alpha call.
    std::unique_ptr<grpc::ClientContext> inner_ctx = grpc::ClientContext::FromServerContext(*ctx);
    const grpc::internal::RpcMethod method(kV1AlphaMethod,
                                           grpc::internal::RpcMethod::BIDI_STREAMING);
    std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> inner(
        grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
            channel.get(), method, inner_ctx.get()));
    grpc::ByteBuffer request, response;
    while (stream->Read(&request)) {
      if (!inner->Write(request) || !inner->Read(&response) || !stream->Write(response)) break;
    }
    inner->WritesDone();
    return inner->Finish();
  }

  Server::Impl& s_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_reflection_v1_service(Server::Impl& server) {
  return std::make_unique<ReflectionV1>(server);
}

}  // namespace imprint::server
