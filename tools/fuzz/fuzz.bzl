"""cc_fuzz_target: a libFuzzer target that is also a corpus-replay test.

A target defines LLVMFuzzerTestOneInput in `srcs` and keeps its seed inputs
in `corpus/<name>/` next to its BUILD file. In an ordinary build (and under
--config=asan) it is a cc_test that feeds every seed through the function,
so a crash found once stays a failing test. Under --config=fuzz (clang,
libFuzzer; run by tools/fuzz.sh) the same target is a fuzzer binary.
"""

def cc_fuzz_target(name, srcs, deps = [], **kwargs):
    corpus = native.glob(["corpus/%s/**" % name])
    if not corpus:
        fail("cc_fuzz_target %s: add seed inputs under corpus/%s/" % (name, name))
    native.filegroup(
        name = name + "_corpus",
        srcs = corpus,
        testonly = True,
    )
    native.cc_test(
        name = name,
        srcs = srcs,
        deps = deps + select({
            "//tools/fuzz:fuzzing": [],
            "//conditions:default": ["//tools/fuzz:replay_main"],
        }),
        linkopts = select({
            "//tools/fuzz:fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        data = [":" + name + "_corpus"],
        args = ["$(rootpaths :%s_corpus)" % name],
        tags = kwargs.pop("tags", []) + ["fuzz_target"],
        size = kwargs.pop("size", "small"),
        **kwargs
    )
