"""Bazel repositories over Debian's system -dev packages.

Every library the project links is one external repository (`@grpc`, `@absl`,
...) whose BUILD file wraps the shared objects under /usr/lib. Headers live in
/usr/include, which is already on the C++ toolchain's include path. Nothing is
downloaded: the README's set-up command installs the packages with apt.
"""

_LIBDIR = "lib/x86_64-linux-gnu/"

def _shared(libs):
    return [_LIBDIR + "lib" + lib + ".so" for lib in libs]

def _library_build_file(targets):
    lines = ['package(default_visibility = ["//visibility:public"])', ""]
    for target in targets:
        lines.append("cc_library(")
        lines.append("    name = %r," % target["name"])
        if target.get("glob"):
            lines.append("    srcs = glob(%r)," % target["glob"])
        else:
            lines.append("    srcs = %r," % target.get("srcs", []))
        lines.append("    deps = %r," % target.get("deps", []))
        lines.append("    defines = %r," % target.get("defines", []))
        lines.append("    linkopts = %r," % target.get("linkopts", []))
        lines.append(")")
        lines.append("")
    return "\n".join(lines)

def _system_repository(name, targets):
    native.new_local_repository(
        name = name,
        path = "/usr",
        build_file_content = _library_build_file(targets),
    )

def cradle_system_repositories():
    """Declares one repository per system library the project uses."""
    _system_repository("absl", [{
        "name": "absl",
        "glob": [_LIBDIR + "libabsl_*.so"],
        "linkopts": ["-pthread"],
    }])
    _system_repository("protobuf", [{
        "name": "protobuf",
        "srcs": _shared(["protobuf"]),
        "linkopts": ["-pthread"],
    }])
    _system_repository("grpc", [{
        "name": "grpc++",
        "srcs": _shared(["grpc++", "grpc", "gpr", "address_sorting", "upb", "cares"]),
        "deps": ["@protobuf", "@absl", "@openssl//:ssl", "@re2"],
        "linkopts": ["-lz"],
    }])
    _system_repository("openssl", [
        {"name": "crypto", "srcs": _shared(["crypto"])},
        {"name": "ssl", "srcs": _shared(["ssl"]), "deps": [":crypto"]},
    ])
    _system_repository("glog", [{
        "name": "glog",
        "srcs": _shared(["glog", "gflags"]),
    }])
    _system_repository("leveldb", [{"name": "leveldb", "srcs": _shared(["leveldb"])}])
    _system_repository("libarchive", [{"name": "libarchive", "srcs": _shared(["archive"])}])
    _system_repository("curl", [{"name": "curl", "srcs": _shared(["curl"])}])
    _system_repository("seccomp", [{"name": "seccomp", "srcs": _shared(["seccomp"])}])
    _system_repository("zstd", [{"name": "zstd", "srcs": _shared(["zstd"])}])
    _system_repository("zlib", [{"name": "zlib", "linkopts": ["-lz"]}])
    _system_repository("tomlplusplus", [{
        "name": "tomlplusplus",
        "srcs": _shared(["tomlplusplus"]),
        # As Debian's tomlplusplus.pc says: use the compiled library.
        "defines": ["TOML_HEADER_ONLY=0", "TOML_SHARED_LIB=1"],
    }])
    _system_repository("nlohmann_json", [{"name": "json"}])
    _system_repository("yaml_cpp", [{"name": "yaml_cpp", "srcs": _shared(["yaml-cpp"])}])
    # Linear-time regular expressions for client-supplied patterns.
    _system_repository("re2", [{"name": "re2", "srcs": _shared(["re2"]), "deps": ["@absl"]}])
    # sd_notify(3): readiness and stopping reported to systemd (Type=notify).
    _system_repository("systemd", [{"name": "systemd", "srcs": _shared(["systemd"])}])

    # Debian ships GoogleTest and GoogleMock as static archives only.
    _system_repository("gtest", [
        {"name": "gtest", "srcs": [_LIBDIR + "libgtest.a"], "linkopts": ["-pthread"]},
        {"name": "gtest_main", "srcs": [_LIBDIR + "libgtest_main.a"], "deps": [":gtest"]},
        {"name": "gmock", "srcs": [_LIBDIR + "libgmock.a"], "deps": [":gtest"]},
        {"name": "gmock_main", "srcs": [_LIBDIR + "libgmock_main.a"], "deps": [":gmock"]},
    ])
