# Renders containerd 1.6's API protos as bare wire definitions for cradle:
# comments, Go/gogo options and the fieldpath plugin are dropped; imports are
# re-rooted under containerd_api/proto. Also renders the cgroup v1 metrics
# message of github.com/containerd/cgroups (Tasks.Metrics' payload) to
# cgroups/stats/v1/metrics.proto.
import os, re, sys
SRC = "/usr/share/gocode/src/github.com/containerd/containerd/api"
CGROUPS_SRC = "/usr/share/gocode/src/github.com/containerd/cgroups"
CGROUPS_PROTOS = ["stats/v1/metrics.proto"]
DST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "containerd_api", "proto")
HEADER = ("// containerd's {what} API, as cradle serves it (package {pkg}).\n"
          "// Service, message and field names, numbers and types are containerd 1.6's,\n"
          "// so its clients (ctr) work against cradled unchanged. Generated from the published\n"
          "// definitions by dropping their comments and Go options; see\n"
          "// docs/containerd-api.md for which part of cradle answers each service.\n\n")
# tidy: also drop whole comment lines (not leave them blank), blank lines
# before a closing brace and runs of blanks before "=". Only the cgroups file
# is rendered tidy, so the containerd files stay as first rendered.
def strip(text, tidy=False):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    if tidy: text = re.sub(r"^[ \t]*//[^\n]*\n", "", text, flags=re.M)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"\s*\[\s*\((gogoproto|containerd)[^\]]*\]", "", text, flags=re.S)
    text = re.sub(r"^\s*option\s+(go_package|\(gogoproto[^)]*\)|\(containerd[^)]*\))[^;]*;\s*$", "", text, flags=re.M)
    text = re.sub(r'^option go_package = "[^"]*";\n', "", text, flags=re.M)
    text = re.sub(r'^import weak[^\n]*\n', "", text, flags=re.M)
    text = re.sub(r'^import "gogoproto/gogo.proto";\n', "", text, flags=re.M)
    text = text.replace('import "github.com/containerd/containerd/api/', 'import "containerd_api/proto/')
    text = text.replace('import "google/rpc/status.proto"', 'import "containerd_api/proto/rpc/status.proto"')
    lines = [l.rstrip() for l in text.split("\n")]
    out, blank = [], False
    for l in lines:
        if not l.strip():
            if blank or not out or out[-1].rstrip().endswith("{"): continue
            blank = True
        else:
            if tidy and blank and l.strip() == "}": out.pop()
            blank = False
        l = l.replace("\t", "  ")
        out.append(re.sub(r"(\S)  +=", r"\1 =", l) if tidy else l)
    return "\n".join(out).strip() + "\n"
def render(src, rel, dst_rel, what, tidy=False):
    body = strip(open(os.path.join(src, rel)).read(), tidy)
    pkg = re.search(r"^package ([\w.]+);", body, re.M).group(1)
    os.makedirs(os.path.dirname(os.path.join(DST, dst_rel)), exist_ok=True)
    open(os.path.join(DST, dst_rel), "w").write(HEADER.format(what=what, pkg=pkg) + body)
    print(dst_rel)
for root, _, files in os.walk(SRC):
    for f in files:
        if not f.endswith(".proto"): continue
        rel = os.path.relpath(os.path.join(root, f), SRC)
        if rel.startswith("services/ttrpc"): continue
        what = rel.split("/")[1] if rel.startswith("services/") else rel.split("/")[0]
        render(SRC, rel, rel, what)
for rel in CGROUPS_PROTOS:
    render(CGROUPS_SRC, rel, os.path.join("cgroups", rel), "cgroups", tidy=True)
