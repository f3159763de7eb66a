"""cc_grpc_library: C++ protobuf (+ gRPC) code from .proto files.

Runs the system protoc and grpc_cpp_plugin in a genrule, so no protobuf or
gRPC sources are needed. Protos are compiled with the workspace root as the
import root: import "cri/api/runtime/v1/api.proto" and include
"cri/api/runtime/v1/api.pb.h". Well-known types resolve through protoc's
default /usr/include.
"""

def cc_grpc_library(name, srcs, grpc = True, deps = [], proto_deps = [], **kwargs):
    """Generates and compiles C++ code for `srcs`.

    Args:
      name: the cc_library target.
      srcs: .proto files in this package.
      grpc: also generate service stubs.
      deps: cc_grpc_library targets of the protos these import.
      proto_deps: the imported .proto files themselves (protoc reads them).
      **kwargs: passed to cc_library (visibility, ...).
    """
    outs = []
    for src in srcs:
        base = src[:-len(".proto")]
        outs += [base + ".pb.h", base + ".pb.cc"]
        if grpc:
            outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]

    cmd = "/usr/bin/protoc -I. --cpp_out=$(GENDIR) "
    if grpc:
        cmd += "--grpc_out=$(GENDIR) --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin "
    cmd += " ".join(["$(location %s)" % s for s in srcs])
    native.genrule(
        name = name + "_codegen",
        srcs = srcs + proto_deps,
        outs = outs,
        cmd = cmd,
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = deps + ["@protobuf"] + (["@grpc//:grpc++"] if grpc else []),
        **kwargs
    )
