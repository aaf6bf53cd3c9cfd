/* bcryptprimitives.c: a stand-in for Windows 10's bcryptprimitives.dll,
 * which Wine 8 (Debian 12's) lacks and every Go 1.24+ program loads at
 * start (its random numbers come from ProcessPrng). make test-windows
 * builds it with MinGW-w64 into the Wine prefix's system32, so that the
 * Windows build's tests can run under Wine. Not shipped: a real Windows
 * has the DLL. */
#include <windows.h>
#include <ntsecapi.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
		if (!RtlGenRandom(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE h, DWORD reason, LPVOID reserved)
{
	return TRUE;
}
