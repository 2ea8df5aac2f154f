package ioloop

// useURing sets up the io_uring backend.
func (l *Loop) useURing(opts Options) error {
	b, err := newURingBackend(l, opts)
	if err != nil {
		return err
	}
	l.backend, l.backendKind = b, BackendIOUring
	return nil
}
