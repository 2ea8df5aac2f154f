package ioloop

import (
	"errors"
	"sync"
	"syscall"
)

// Windows reports errors as Win32 error codes (ERROR_*) and Winsock codes
// (WSAE*). The loop's callers test errors against syscall's errno names
// (errors.Is(err, syscall.ECONNRESET)), which on Windows are values that
// package syscall invents for the purpose, so the IOCP backend maps each
// code it knows to them; a code it does not know is delivered as the
// syscall.Errno Windows gave, which prints as Windows' message and
// matches what package syscall maps it to (ERROR_ACCESS_DENIED is
// os.ErrPermission, for one).
const (
	errorFileNotFound       syscall.Errno = 2
	errorInvalidFunction    syscall.Errno = 1 // ReadFile of a directory handle
	errorPathNotFound       syscall.Errno = 3
	errorAccessDenied       syscall.Errno = 5
	errorInvalidHandle      syscall.Errno = 6
	errorNotEnoughMemory    syscall.Errno = 8
	errorHandleEOF          syscall.Errno = 38
	errorNotSameDevice      syscall.Errno = 17   // MoveFileEx, CreateHardLink across volumes
	errorPrivilegeNotHeld   syscall.Errno = 1314 // CreateSymbolicLink without the privilege
	errorNotSupported       syscall.Errno = 50
	errorNetnameDeleted     syscall.Errno = 64
	errorFileExists         syscall.Errno = 80
	errorInvalidParameter   syscall.Errno = 87
	errorBrokenPipe         syscall.Errno = 109
	errorDiskFull           syscall.Errno = 112
	errorInvalidName        syscall.Errno = 123
	errorDirNotEmpty        syscall.Errno = 145
	errorAlreadyExists      syscall.Errno = 183
	errorDirectory          syscall.Errno = 267
	errorOperationAborted   syscall.Errno = 995
	errorIOPending          syscall.Errno = 997
	errorNotFound           syscall.Errno = 1168
	errorConnectionRefused  syscall.Errno = 1225
	errorConnectionAborted  syscall.Errno = 1236
	errorNetworkUnreachable syscall.Errno = 1231
	errorHostUnreachable    syscall.Errno = 1232
	errorPortUnreachable    syscall.Errno = 1234
	errorSemTimeout         syscall.Errno = 121
	errorMoreData           syscall.Errno = 234 // STATUS_BUFFER_OVERFLOW: a datagram longer than the buffer
	errorHandlesClosed      syscall.Errno = 676 // STATUS_HANDLES_CLOSED: wine ends I/O on a socket closed under it so
	wsaEINTR                syscall.Errno = 10004
	wsaEBADF                syscall.Errno = 10009
	wsaEACCES               syscall.Errno = 10013
	wsaEFAULT               syscall.Errno = 10014
	wsaEINVAL               syscall.Errno = 10022
	wsaEMFILE               syscall.Errno = 10024
	wsaEWOULDBLOCK          syscall.Errno = 10035
	wsaEINPROGRESS          syscall.Errno = 10036
	wsaEALREADY             syscall.Errno = 10037
	wsaENOTSOCK             syscall.Errno = 10038
	wsaEMSGSIZE             syscall.Errno = 10040
	wsaEOPNOTSUPP           syscall.Errno = 10045
	wsaEAFNOSUPPORT         syscall.Errno = 10047
	wsaEADDRINUSE           syscall.Errno = 10048
	wsaEADDRNOTAVAIL        syscall.Errno = 10049
	wsaENETDOWN             syscall.Errno = 10050
	wsaENETUNREACH          syscall.Errno = 10051
	wsaENETRESET            syscall.Errno = 10052
	wsaECONNABORTED         syscall.Errno = 10053
	wsaECONNRESET           syscall.Errno = 10054
	wsaENOBUFS              syscall.Errno = 10055
	wsaEISCONN              syscall.Errno = 10056
	wsaENOTCONN             syscall.Errno = 10057
	wsaESHUTDOWN            syscall.Errno = 10058
	wsaETIMEDOUT            syscall.Errno = 10060
	wsaECONNREFUSED         syscall.Errno = 10061
	wsaEHOSTUNREACH         syscall.Errno = 10065
	wsaENOTINITIALISED      syscall.Errno = 10093
	wsaEDISCON              syscall.Errno = 10101
	wsaOperationAborted     syscall.Errno = 995 // WSA_OPERATION_ABORTED, ERROR_OPERATION_ABORTED's value
)

// errnoFromWindows maps a Windows error code to the errno name callers
// test for (see above), or returns it unchanged.
func errnoFromWindows(code syscall.Errno) syscall.Errno {
	switch code {
	case 0:
		return 0
	case errorFileNotFound, errorPathNotFound, errorNotFound:
		return syscall.ENOENT
	case errorAccessDenied, wsaEACCES:
		return syscall.EACCES
	case errorInvalidHandle, wsaEBADF, wsaENOTSOCK:
		return syscall.EBADF
	case errorNotEnoughMemory, wsaENOBUFS:
		return syscall.ENOMEM
	case errorNotSupported, wsaEOPNOTSUPP:
		return syscall.EOPNOTSUPP
	case errorNetnameDeleted, wsaECONNRESET, wsaENETRESET, wsaEDISCON:
		return syscall.ECONNRESET
	case errorFileExists, errorAlreadyExists:
		return syscall.EEXIST
	case errorInvalidParameter, errorInvalidName, wsaEINVAL, wsaEFAULT:
		return syscall.EINVAL
	case errorBrokenPipe, wsaESHUTDOWN:
		return syscall.EPIPE
	case errorDiskFull:
		return syscall.ENOSPC
	case errorDirNotEmpty:
		return syscall.ENOTEMPTY
	case errorDirectory:
		return syscall.ENOTDIR
	case errorNotSameDevice:
		return syscall.EXDEV
	case errorPrivilegeNotHeld:
		return syscall.EPERM
	case errorOperationAborted, errorHandlesClosed:
		return syscall.ECANCELED
	case errorConnectionRefused, wsaECONNREFUSED, errorPortUnreachable:
		return syscall.ECONNREFUSED
	case errorConnectionAborted, wsaECONNABORTED:
		return syscall.ECONNABORTED
	case errorNetworkUnreachable, wsaENETUNREACH, wsaENETDOWN:
		return syscall.ENETUNREACH
	case errorHostUnreachable, wsaEHOSTUNREACH:
		return syscall.EHOSTUNREACH
	case errorSemTimeout, wsaETIMEDOUT:
		return syscall.ETIMEDOUT
	case wsaEINTR:
		return syscall.EINTR
	case wsaEMFILE:
		return syscall.EMFILE
	case wsaEWOULDBLOCK:
		return syscall.EAGAIN
	case wsaEINPROGRESS:
		return syscall.EINPROGRESS
	case wsaEALREADY:
		return syscall.EALREADY
	case wsaEMSGSIZE:
		return syscall.EMSGSIZE
	case wsaEAFNOSUPPORT:
		return syscall.EAFNOSUPPORT
	case wsaEADDRINUSE:
		return syscall.EADDRINUSE
	case wsaEADDRNOTAVAIL:
		return syscall.EADDRNOTAVAIL
	case wsaEISCONN:
		return syscall.EISCONN
	case wsaENOTCONN:
		return syscall.ENOTCONN
	}
	if code&windowsCodeFlag != 0 {
		return syscall.EIO // not a Win32 or Winsock code, and it would read as a packed errno
	}
	return code
}

// WindowsError is the error a callback gets on Windows when an operation
// failed with a Windows error code that the backend maps to an errno name:
// Errno is the name callers test for (syscall.ECONNRESET) and Code the
// Win32 or Winsock code Windows returned (WSAECONNRESET, 10054), kept for
// inspection with errors.As. errors.Is matches both:
// errors.Is(err, syscall.ECONNRESET) and errors.Is(err,
// windows.WSAECONNRESET) are true, as are the os.Err* values either one
// matches.
//
// A code with no errno name of its own is delivered as the syscall.Errno
// Windows gave, not as a WindowsError. A WindowsError is shared by every
// error of the same pair, so delivering one allocates nothing once the
// pair has been seen; treat it as read-only.
type WindowsError struct {
	Errno syscall.Errno // the errno name, as on Linux
	Code  syscall.Errno // the Windows code it was mapped from
}

// Error names both: "connection reset by peer (Windows code 10054: ...)".
func (e *WindowsError) Error() string {
	return e.Errno.Error() + " (Windows code " + itoa(uint64(e.Code)) + ": " + e.Code.Error() + ")"
}

// Unwrap returns Errno, so that errors.Is(err, syscall.ECONNRESET) holds.
func (e *WindowsError) Unwrap() error { return e.Errno }

// Is matches Code, and whatever Code matches (os.ErrPermission for
// ERROR_ACCESS_DENIED, say); Errno is matched through Unwrap.
func (e *WindowsError) Is(target error) bool {
	if code, ok := target.(syscall.Errno); ok {
		return code == e.Code
	}
	return e.Code.Is(target)
}

func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// A Completion stores its error in 32 bits, so an errno that carries its
// Windows code is packed: windowsCodeFlag, the code in the bits from
// windowsCodeShift up, and the errno in the low 9 bits, as its offset from
// syscall.APPLICATION_ERROR (every errno name package syscall invents on
// Windows is APPLICATION_ERROR plus an offset below 256) or, with
// errnoItselfFlag, as itself (ENOENT is ERROR_FILE_NOT_FOUND, 2). Windows
// error codes are 16-bit; an errno or code that does not fit is not
// packed, and only the errno is kept.
const (
	windowsCodeFlag  syscall.Errno = 1 << 30
	errnoItselfFlag  syscall.Errno = 1 << 8
	errnoValueMask   syscall.Errno = 0xff
	windowsCodeShift               = 9
	maxPackedCode    syscall.Errno = 1<<(30-windowsCodeShift) - 1
)

// withWindowsCode packs errno, mapped from code, so that the error
// delivered for it keeps the code (see WindowsError). An errno that is
// the code itself, or that does not fit, is returned as is.
func withWindowsCode(errno, code syscall.Errno) syscall.Errno {
	if code == 0 || errno == code || code > maxPackedCode {
		return errno
	}
	if offset := errno - syscall.APPLICATION_ERROR; errno >= syscall.APPLICATION_ERROR && offset <= errnoValueMask {
		return windowsCodeFlag | code<<windowsCodeShift | offset
	}
	if errno <= errnoValueMask {
		return windowsCodeFlag | code<<windowsCodeShift | errnoItselfFlag | errno
	}
	return errno
}

// plainErrno returns the errno name of a packed errno (withWindowsCode),
// for comparisons; any other errno is returned as is.
func plainErrno(errno syscall.Errno) syscall.Errno {
	switch {
	case errno&windowsCodeFlag == 0:
		return errno
	case errno&errnoItselfFlag != 0:
		return errno & errnoValueMask
	}
	return syscall.APPLICATION_ERROR + errno&errnoValueMask
}

// errnoError is the error a callback gets for errno: a *WindowsError for
// a packed errno, else the errno.
func errnoError(errno syscall.Errno) error {
	if errno&windowsCodeFlag == 0 {
		return errno
	}
	return windowsErrors.get(plainErrno(errno), errno>>windowsCodeShift&maxPackedCode)
}

// windowsErrors interns the WindowsErrors delivered, one per (errno,
// code) pair: the backend knows about seventy codes, so the table stays
// small, and an error delivered again allocates nothing.
var windowsErrors windowsErrorTable

type windowsErrorTable struct {
	mu sync.Mutex
	of map[[2]syscall.Errno]*WindowsError
}

func (t *windowsErrorTable) get(errno, code syscall.Errno) *WindowsError {
	key := [2]syscall.Errno{errno, code}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.of[key]
	if e == nil {
		if t.of == nil {
			t.of = make(map[[2]syscall.Errno]*WindowsError)
		}
		e = &WindowsError{Errno: errno, Code: code}
		t.of[key] = e
	}
	return e
}

// windowsResult is a completion's result for a Windows call that
// returned err: 0 for nil, else the negative errno callers test for,
// packed with the Windows code (windowsCoded).
func windowsResult(err error) int32 { return -int32(windowsCoded(err)) }

// windowsErrno converts an error of a Windows call into the errno callers
// test for: 0 for nil, EIO for an error that is no syscall.Errno.
func windowsErrno(err error) syscall.Errno { return plainErrno(windowsCoded(err)) }

// windowsCallError is the error a function of the package returns
// directly (ListenTCP, TCPSocket, UDPSocket, SetNoDelay, LocalAddr, ...)
// for a failed Windows call: nil for nil, else as a callback gets it, a
// *WindowsError with the errno and the Windows code (errnoError), so that
// errors.Is matches both and errors.As reaches the code. It allocates only
// the first time a pair is seen (the values are interned).
func windowsCallError(err error) error {
	if err == nil {
		return nil
	}
	return errnoError(windowsCoded(err))
}

// windowsCoded is windowsErrno with the Windows code packed beside the
// errno (withWindowsCode), for a worker's result: the callback then gets
// a *WindowsError. Compare it through plainErrno.
func windowsCoded(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var code syscall.Errno
	if !errors.As(err, &code) {
		return syscall.EIO
	}
	return withWindowsCode(errnoFromWindows(code), code)
}

// windowsErrnoOrNil is windowsErrno that keeps nil nil.
func windowsErrnoOrNil(err error) error {
	if err == nil {
		return nil
	}
	return windowsErrno(err)
}
