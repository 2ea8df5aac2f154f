package ioloop

import (
	"errors"
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
	return code
}

// windowsErrno converts an error of a Windows call into the errno callers
// test for: 0 for nil, EIO for an error that is no syscall.Errno.
func windowsErrno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var code syscall.Errno
	if !errors.As(err, &code) {
		return syscall.EIO
	}
	return errnoFromWindows(code)
}

// windowsErrnoOrNil is windowsErrno that keeps nil nil.
func windowsErrnoOrNil(err error) error {
	if err == nil {
		return nil
	}
	return windowsErrno(err)
}
