/* emu.h: the kernel emulator's C interface (emu.c), called from emu.go. */
#include <stddef.h>
#include <stdint.h>

/* emu_find returns the index of kernel name, or -1; *sig is its argument
 * kinds, one letter each: P pointer the kernel may write through, C
 * pointer to const, I 32-bit integer, L 64-bit integer, F float. */
int emu_find(const char *name, const char **sig);

/* emu_kernel returns kernel i's name and argument kinds, or NULL past the
 * last. */
const char *emu_kernel(int i, const char **sig);

/* emu_launch flags: EMU_SERIAL runs the blocks in order on one thread;
 * EMU_REVERSE runs each block's threads last to first (between barriers,
 * in a kernel that synchronises). */
enum { EMU_SERIAL = 1, EMU_REVERSE = 2 };

/* emu_launch runs kernel i on grid blocks of block threads with the
 * argument values in args (one 8-byte slot each, a 4-byte value in the low
 * half) and returns 0, or 1 with a message in err. */
int emu_launch(int i, int grid, int block, const uint64_t *args, int nargs, int flags, char *err, size_t errlen);
