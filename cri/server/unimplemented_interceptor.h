// Names the RPC in every UNIMPLEMENTED answer.
//
// gRPC's generated service base answers an RPC nobody overrides with
// UNIMPLEMENTED and an empty message. cradle builds the CRI one capability at
// a time, so a client must be able to tell "this runtime does not do X yet"
// from a broken connection: this interceptor fills in the method's name.
#ifndef CRADLE_CRI_SERVER_UNIMPLEMENTED_INTERCEPTOR_H_
#define CRADLE_CRI_SERVER_UNIMPLEMENTED_INTERCEPTOR_H_

#include <grpcpp/support/server_interceptor.h>

#include <memory>

namespace cradle {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeUnimplementedInterceptorFactory();

}  // namespace cradle

#endif  // CRADLE_CRI_SERVER_UNIMPLEMENTED_INTERCEPTOR_H_
