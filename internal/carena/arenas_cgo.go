//go:build cgo && linux

// arenas_cgo.go: the C heap's address space kept small where the process
// has an address-space limit (ulimit -v). glibc gives each thread that
// allocates its own heap arena, 64 MiB of address space reserved each
// (cgo's thread start allocates on every new thread), which under ulimit
// -v leaves the Go runtime less to map than it needs: train's CPU engine
// ended in a crash dump under ulimit -v 2000000 with 242 MB of its heap
// in use, 7 such arenas mapped; with one arena it trains there. Without a
// limit nothing changes.
package carena

/*
#include <malloc.h>
#include <sys/resource.h>

// At load, before the Go runtime starts its threads (an init would come
// after the first few had made arenas of their own): one arena where an
// address-space limit is set (glibc; other C libraries, musl's, have no
// arenas to limit).
__attribute__((constructor)) static void cnngpu_one_arena(void) {
#ifdef M_ARENA_MAX
	struct rlimit rl;
	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		mallopt(M_ARENA_MAX, 1);
	}
#endif
}
*/
import "C"
