/*
 * A stand-in for Windows' bcryptprimitives.dll, for wine 8.0, which lacks it.
 *
 * Go 1.22 and later draw their random numbers from ProcessPrng in
 * bcryptprimitives.dll; a Go program for Windows dies at start under a wine
 * without it ("bcryptprimitives.dll not found"). This DLL exports that one
 * function and fills the buffer from RtlGenRandom (SystemFunction036 in
 * advapi32), which wine has. .ci/wine.sh builds it with mingw-w64 and copies
 * it into the wine prefix's system32. It is a test fixture only: nothing of
 * ioloop links it.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
	while (length > 0) {
		ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
		if (!SystemFunction036(data, chunk))
			return FALSE;
		data += chunk;
		length -= chunk;
	}
	return TRUE;
}
