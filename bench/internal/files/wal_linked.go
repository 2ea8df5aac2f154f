package files

import (
	"errors"
)

// linkedAvailable says whether the library links operations (BeginChain,
// EndChain); until it does, the linked method is not planned.
const linkedAvailable = false

// submitLinked submits a's Write and, linked after it, its Fdatasync.
func (l *walLog) submitLinked(a *walAppender, off int64) {
	_, _ = a, off
	l.inFlight--
	l.fail(errors.New("this library has no linked operations (BeginChain) yet"))
}
