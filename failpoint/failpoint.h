// Named crash points for fault-injection tests, one after each side effect
// of the CRI calls that change state. A failpoint does nothing unless the
// daemon was started with CRADLE_FAILPOINTS=<name>[,<name>...] in its
// environment; then the daemon SIGKILLs itself when it reaches that point,
// as a power cut or an OOM kill would stop it there. Nothing in the CRI can
// arm one. e2e/failpoint_test.cc kills the daemon at each in turn, restarts
// it and checks that nothing was lost or leaked.
#ifndef CRADLE_FAILPOINT_FAILPOINT_H_
#define CRADLE_FAILPOINT_FAILPOINT_H_

#include <string>
#include <vector>

namespace cradle::failpoint {

// The environment variable that arms failpoints.
inline constexpr char kEnv[] = "CRADLE_FAILPOINTS";

// Every failpoint, in the order a pod's life reaches them. Each names the
// call and the step just done.
inline constexpr const char* kAll[] = {
    "PullImage.fetched",            // blobs in the content store
    "PullImage.unpacked",           // layers in snapshots, no image record
    "RunPodSandbox.recorded",       // CREATING record, nothing built
    "RunPodSandbox.namespaces",     // namespaces pinned, shm mounted
    "RunPodSandbox.network",        // CNI ADD done
    "RunPodSandbox.shim",           // the pod's shim runs
    "RunPodSandbox.infra",          // the pause process runs, not READY
    "CreateContainer.recorded",     // record, no snapshot
    "CreateContainer.rootfs",       // snapshot prepared and mounted
    "CreateContainer.shim",         // runc created it; pid not recorded
    "StartContainer.started",       // runc started it; not recorded
    "StopContainer.signalled",      // stop signal sent
    "RemoveContainer.shim",         // deleted from the shim and runc
    "RemoveContainer.rootfs",       // unmounted, snapshot removed
    "StopPodSandbox.containers",    // containers stopped
    "StopPodSandbox.network",       // CNI DEL done, netns still pinned
    "RemovePodSandbox.containers",  // containers removed
    "RemovePodSandbox.shim",        // shim gone
    "RemovePodSandbox.files",       // pod dir removed, record kept
};

// Dies with SIGKILL when `name` is armed. Cheap when nothing is.
void Hit(const char* name);

// The armed names (parsed once from the environment).
const std::vector<std::string>& Armed();

}  // namespace cradle::failpoint

#endif  // CRADLE_FAILPOINT_FAILPOINT_H_
