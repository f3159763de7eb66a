#include "cri/store/state.h"

namespace cradle {

const char* PodStateName(PodState s) {
  switch (s) {
    case PodState::kCreating:
      return "CREATING";
    case PodState::kReady:
      return "READY";
    case PodState::kNotReady:
      return "NOTREADY";
  }
  return "INVALID";
}

bool PodTransitionAllowed(PodState from, PodState to) {
  if (from == to) return true;
  switch (from) {
    case PodState::kCreating:
      return to == PodState::kReady || to == PodState::kNotReady;
    case PodState::kReady:
      return to == PodState::kNotReady;
    case PodState::kNotReady:
      return false;  // a stopped pod is never ready again
  }
  return false;
}

const char* ContainerStateName(ContainerState s) {
  switch (s) {
    case ContainerState::kCreated:
      return "CONTAINER_CREATED";
    case ContainerState::kRunning:
      return "CONTAINER_RUNNING";
    case ContainerState::kExited:
      return "CONTAINER_EXITED";
    case ContainerState::kUnknown:
      return "CONTAINER_UNKNOWN";
  }
  return "INVALID";
}

bool ContainerTransitionAllowed(ContainerState from, ContainerState to) {
  if (from == to) return true;
  switch (from) {
    case ContainerState::kCreated:
      return to == ContainerState::kRunning || to == ContainerState::kExited;
    case ContainerState::kRunning:
      return to == ContainerState::kExited;
    case ContainerState::kExited:
      return false;
    case ContainerState::kUnknown:
      // Records of older daemons may hold it; what is learned replaces it.
      return to != ContainerState::kCreated;
  }
  return false;
}

}  // namespace cradle
