package api

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// cancelWhenClientGoes calls cancel when conn's client closes its side
// while a request is being answered, so that a query nobody waits for
// stops holding its database connection. It looks without reading: a
// peek that finds the end of the stream (or an error) is the client gone;
// one that finds bytes (a pipelined request) ends the watch and leaves
// them for the server. stop ends the watch and waits for it.
func cancelWhenClientGoes(conn net.Conn, cancel func()) (stop func()) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return func() {}
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var b [1]byte
		gone := false
		err := raw.Read(func(fd uintptr) bool {
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR) {
				return false // nothing yet: wait until the socket is readable
			}
			gone = err != nil || n == 0
			return true
		})
		if err == nil && gone {
			cancel()
		}
	}()
	return func() {
		_ = conn.SetReadDeadline(time.Now())
		<-done
		_ = conn.SetReadDeadline(time.Time{})
	}
}
