// The life of a CRI container and of a pod sandbox, as explicit state
// machines. Every change of state goes through the stores' Mutate, which
// refuses a transition drawn nowhere below and persists the new record
// before the in-memory copy changes (the caller's side effect comes after).
// docs/state-machines.md walks the same diagrams with the failure paths.
//
// Container (CRI ContainerState; containerd's store/container/status.go):
//
//   CreateContainer ─► CREATED ──StartContainer──► RUNNING
//                         │                           │ exit recorded by the
//                         │ start failed, or the      │ shim, or the shim
//                         │ shim died before start    │ proven dead
//                         └──────────► EXITED ◄───────┘
//                                        │ RemoveContainer
//                                        ▼ (record deleted)
//
// EXITED is final. UNKNOWN is never stored: a status read reports it while
// the shim cannot be asked and is not proven dead; the stored state stays.
//
// Pod sandbox (containerd's sandbox INIT/READY/NOTREADY):
//
//   RunPodSandbox ─► CREATING ──everything built──► READY
//                       │ a step failed, or the        │ StopPodSandbox, its
//                       │ daemon died mid-way          │ shim died, a reboot
//                       └──────────► NOTREADY ◄────────┘
//                                       │ RemovePodSandbox
//                                       ▼ (record deleted)
//
// CREATING is written before the first side effect (namespaces, CNI ADD,
// shim) with every path those steps will use, so a daemon killed at any
// point finds what to undo.
#ifndef CRADLE_CRI_STORE_STATE_H_
#define CRADLE_CRI_STORE_STATE_H_

namespace cradle {

enum class PodState { kCreating = 0, kReady = 1, kNotReady = 2 };

const char* PodStateName(PodState s);
bool PodTransitionAllowed(PodState from, PodState to);

// CRI ContainerState numbers.
enum class ContainerState {
  kCreated = 0,
  kRunning = 1,
  kExited = 2,
  kUnknown = 3
};

const char* ContainerStateName(ContainerState s);
bool ContainerTransitionAllowed(ContainerState from, ContainerState to);

}  // namespace cradle

#endif  // CRADLE_CRI_STORE_STATE_H_
