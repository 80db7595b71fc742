// Canary for .ci/sanitizers: proves that a sanitizer report from a callarchived that a test launched reaches the
// report directory the script checks (the daemon's own stderr goes to a log file the test deletes).
//
// Preloaded (LD_PRELOAD) into every process of one short test run; it acts only inside callarchived and only when
// CALLARCHIVE_SANITIZER_CANARY names the sanitizer. "address": at exit, frees a block twice (ASan's free interceptor
// reports it whatever module calls it; at exit, so that the daemon first runs normally and its test ends at once).
// "thread": at start-up, writes one variable from two threads with no synchronisation, announced to TSan through
// __tsan_write8 (looked up at run time, so the library needs no sanitizer runtime to load and does nothing in
// uninstrumented processes). Built by .ci/sanitizers with the system C compiler; not part of the package.
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long canary_shared;
static void (*canary_tsan_write8)(void *);

static void *canary_writer(void *arg) {
    canary_tsan_write8(&canary_shared);
    canary_shared = 1;
    return arg;
}

static void canary_double_free(void) {
    char *volatile block = malloc(16);
    free(block);
    free(block);
}

__attribute__((constructor)) static void sanitizer_canary(void) {
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return;
    exe[n] = 0;
    const char *slash = strrchr(exe, '/');
    if (strcmp(slash ? slash + 1 : exe, "callarchived") != 0) return;
    const char *kind = getenv("CALLARCHIVE_SANITIZER_CANARY");
    if (kind == NULL) return;
    if (strcmp(kind, "address") == 0) {
        atexit(canary_double_free);
    } else if (strcmp(kind, "thread") == 0) {
        canary_tsan_write8 = (void (*)(void *))dlsym(RTLD_DEFAULT, "__tsan_write8");
        if (canary_tsan_write8 == NULL) return;
        pthread_t thread;
        if (pthread_create(&thread, NULL, canary_writer, NULL) != 0) return;
        canary_tsan_write8(&canary_shared);
        canary_shared = 2;
        pthread_join(thread, NULL);
    }
}
