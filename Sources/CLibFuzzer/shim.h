#ifndef CLIBFUZZER_SHIM_H
#define CLIBFUZZER_SHIM_H
// libFuzzer's driver, linked in by `-sanitize=fuzzer` (compiler-rt). Declared here only: nothing links it in
// an ordinary build, and only code compiled with -DCALLARCHIVE_FUZZING calls it.
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
#endif
