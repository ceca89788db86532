//go:build linux && cgo

package cmalloc

/*
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>

#define CMALLOC_ARENAS 2

static int cmalloc_cap_set;

// cmalloc_cap runs when the program is loaded, before Go's runtime starts
// (it is a C constructor), so that no thread has an arena of its own yet.
__attribute__((constructor)) static void cmalloc_cap(void) {
#if defined(__GLIBC__) && defined(M_ARENA_MAX)
	const char *tunables = getenv("GLIBC_TUNABLES");
	if (getenv("MALLOC_ARENA_MAX") != NULL || (tunables != NULL && strstr(tunables, "glibc.malloc.arena_max") != NULL)) {
		return;
	}
	if (mallopt(M_ARENA_MAX, CMALLOC_ARENAS) == 1) {
		cmalloc_cap_set = CMALLOC_ARENAS;
	}
#endif
}

static int cmalloc_cap_get(void) { return cmalloc_cap_set; }

// cmalloc_count counts the "<heap nr=" elements of malloc_info's report:
// one per arena.
static int cmalloc_count(void) {
#if defined(__GLIBC__)
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (f == NULL) {
		return -1;
	}
	int ok = malloc_info(0, f) == 0;
	fclose(f);
	int n = 0;
	if (ok) {
		for (const char *p = buf; (p = strstr(p, "<heap nr=")) != NULL; p++) {
			n++;
		}
	}
	free(buf);
	return ok ? n : -1;
#else
	return -1;
#endif
}

// cmalloc_churn allocates and frees blocks of sqlite's usual sizes, for
// the test that makes threads contend for the allocator.
static void cmalloc_churn(int rounds) {
	void *held[16];
	for (int i = 0; i < rounds; i++) {
		for (int j = 0; j < 16; j++) {
			held[j] = malloc(64 + 96 * j);
		}
		for (int j = 0; j < 16; j++) {
			free(held[j]);
		}
	}
}
*/
import "C"

func capSet() int { return int(C.cmalloc_cap_get()) }

func count() int { return int(C.cmalloc_count()) }

func churn(rounds int) { C.cmalloc_churn(C.int(rounds)) }
