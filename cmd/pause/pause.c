/* pause: the process that holds a pod's namespaces when one is needed (a
 * shared PID namespace, or the classic pause-container mode). It sleeps,
 * reaps the orphans re-parented to it as PID 1, and exits cleanly on
 * SIGINT or SIGTERM. Linked statically so it runs in any rootfs. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) {
  (void)sig;
  _exit(0);
}

static void on_child(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    printf("cradle pause 0.1.0\n");
    return 0;
  }
  if (getpid() != 1) fprintf(stderr, "pause: not running as PID 1, will not reap orphans\n");
  struct sigaction stop = {0};
  stop.sa_handler = on_stop;
  sigaction(SIGINT, &stop, NULL);
  sigaction(SIGTERM, &stop, NULL);
  struct sigaction child = {0};
  child.sa_handler = on_child;
  child.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  sigaction(SIGCHLD, &child, NULL);
  for (;;) pause();
  return 1;
}
